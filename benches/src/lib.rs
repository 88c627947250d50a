//! Richmond load tool support (see BENCHMARKS.md).
