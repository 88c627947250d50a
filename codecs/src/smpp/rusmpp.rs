//! The owned-model paths of the `rusmpp` 0.4 facade, re-exported from `rusmpp-core`.
//!
//! Richmond depends on `rusmpp-core` (feature `alloc`) rather than on the `rusmpp` facade,
//! because the facade always turns on `rusmpp-core/tokio-codec`, which pulls tokio into this
//! I/O-free crate. This module keeps the facade's paths (`rusmpp::Command`,
//! `rusmpp::pdus::SubmitSm`, `rusmpp::values::Ton`, …) so code written against the facade
//! documentation compiles unchanged. The borrowed (zero-copy) model lives in
//! [`rusmpp_core`](super::rusmpp_core) (`pdus::borrowed`, `decode::borrowed`).

pub use rusmpp_core::{CommandId, CommandStatus, command::owned::Command, pdus::owned::Pdu};

/// `SMPP` command builders.
pub mod command {
    pub use rusmpp_core::command::owned::{
        CommandParts, CommandStatusBuilder, PduBuilder, SequenceNumberBuilder,
    };
}

/// Core `SMPP` types (owned).
pub mod types {
    pub use rusmpp_core::types::{
        COctetStringError, EmptyOrFullCOctetStringError, OctetStringError, owned::*,
    };
}

/// Decoding traits (owned).
pub mod decode {
    pub use rusmpp_core::decode::{
        COctetStringDecodeError, DecodeError, DecodeErrorKind, OctetStringDecodeError, owned::*,
    };
}

/// Encoding traits.
pub mod encode {
    pub use rusmpp_core::encode::*;
}

/// `SMPP` values (owned where the value holds octets).
pub mod values {
    pub use rusmpp_core::values::owned::{
        BroadcastAreaIdentifier, DestAddress, DistributionListName, MessagePayload, ServiceType,
        SmeAddress, Subaddress, UnsuccessSme,
    };
    pub use rusmpp_core::values::*;
}

/// Tagged Length Value fields (owned).
pub mod tlvs {
    pub use rusmpp_core::tlvs::{TlvTag, owned::*};
}

/// `SMPP` PDUs (owned).
pub mod pdus {
    pub use rusmpp_core::pdus::owned::*;
}

/// Field names.
pub mod fields {
    pub use rusmpp_core::fields::*;
}

/// Session states.
pub mod session {
    pub use rusmpp_core::session::*;
}

/// User data headers (owned).
pub mod udhs {
    pub use rusmpp_core::udhs::{
        UdhId, errors,
        owned::{Udh, UdhValue, concatenation},
    };
}
