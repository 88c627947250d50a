//! The SSMI code tables as typed enums, each with an `Other(u32)` fallback.
//!
//! Reference: reference/vumi.md §4.4 (USSD type and phase, ack and nack types, delivery report
//! return codes, binary `pid` and `coding`). Values outside the tables decode to `Other` and
//! encode back unchanged, so no number is ever lost. Meanings of the codes (e.g. which USSD type
//! maps to which Vumi `session_event`) belong to the gateway, not here.

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $label:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value outside the table, kept as received.
            Other(u32),
        }

        impl $name {
            /// The numeric value written on the wire.
            pub const fn value(self) -> u32 {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Other(value) => value,
                }
            }

            /// A stable snake_case name (`"other"` for values outside the table).
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $label, )+
                    Self::Other(_) => "other",
                }
            }
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                match value {
                    $( $value => Self::$variant, )+
                    other => Self::Other(other),
                }
            }
        }

        impl From<$name> for u32 {
            fn from(code: $name) -> u32 {
                code.value()
            }
        }
    };
}

code_enum! {
    /// USSD message type (§4.4), in both directions.
    UssdType {
        /// `1` new session: the user dialled a code; the message is the dialled string.
        New = 1 => "new",
        /// `2` existing session, continue (python-ssmi `EXISTING`, txssmi `RESPONSE`).
        Existing = 2 => "existing",
        /// `3` end of session (release).
        End = 3 => "end",
        /// `4` the session timed out.
        Timeout = 4 => "timeout",
        /// `5` redirect (outbound).
        Redirect = 5 => "redirect",
        /// `6` network-initiated USSD push (outbound).
        Initiate = 6 => "initiate",
    }
}

code_enum! {
    /// USSD phase of an inbound USSD message (§4.4). Vumi ignores it.
    Phase {
        /// `0` unknown.
        Unknown = 0 => "unknown",
        /// `1` phase 1.
        Phase1 = 1 => "phase1",
        /// `2` phase 2.
        Phase2 = 2 => "phase2",
    }
}

code_enum! {
    /// ACK (`101`) type (§4.4).
    AckType {
        /// `1` login OK.
        LoginOk = 1 => "login_ok",
        /// `2` answer to a link check.
        LinkCheck = 2 => "link_check",
    }
}

code_enum! {
    /// NACK (`102`) reason (§4.4, python-ssmi `nack_reason`).
    NackReason {
        /// `1` invalid username/password combination.
        InvalidLogin = 1 => "invalid_login",
        /// `2` invalid or unknown message type.
        InvalidMessageType = 2 => "invalid_message_type",
        /// `3` could not parse the message.
        ParseError = 3 => "parse_error",
        /// `4` account suspended (non-payment or abuse).
        AccountSuspended = 4 => "account_suspended",
    }
}

code_enum! {
    /// Delivery report (`104`) return code (§4.4, txssmi `DR_*`).
    DrStatus {
        /// `0` delivered.
        Success = 0 => "success",
        /// `1` the message expired.
        Expired = 1 => "expired",
        /// `2` the SIM is full.
        SimFull = 2 => "sim_full",
        /// `3` the destination is barred.
        DestinationBarred = 3 => "destination_barred",
        /// `4` invalid destination address.
        InvalidDestination = 4 => "invalid_destination",
        /// `5` the destination is blacklisted.
        DestinationBlacklisted = 5 => "destination_blacklisted",
    }
}

code_enum! {
    /// Binary SMS data coding (§4.2 notes).
    Coding {
        /// `0` 7-bit.
        SevenBit = 0 => "seven_bit",
        /// `246` (0xF6) 8-bit.
        EightBit = 246 => "eight_bit",
    }
}

code_enum! {
    /// Binary SMS protocol id (§4.2 notes).
    Pid {
        /// `0` standard.
        Standard = 0 => "standard",
        /// `15` enhanced.
        Enhanced = 15 => "enhanced",
    }
}
