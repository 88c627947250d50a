//! Support for the end-to-end suites: finding the binary, the private servers, free ports.
