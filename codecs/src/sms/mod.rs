//! SMS text and segmentation: TS 23.038 alphabets and TS 23.040 user data headers.
//!
//! Work in progress: filled in by the SMPP issue (#4).
