//! SMPP 3.4/5.0 PDUs: a thin typed layer over `rusmpp` (reference/smpp.md).
//!
//! Work in progress: filled in by the SMPP issue (#4).

pub use rusmpp;
