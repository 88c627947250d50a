//! Field value types of SSMI lines: message [`Text`] with its [`Charset`], the login
//! [`Secret`], and extended USSD [`Genfields`].
//!
//! Reference: reference/vumi.md §4.1 (character encoding: Latin-1 in Vumi, UTF-8 in
//! python-ssmi; the official encoding is unverified) and §4.5 (positional genfields).
//!
//! Every value borrows the received line (`Bytes` slices, no copy). Text is only turned into a
//! `String` when asked, with the charset the link is configured for.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use super::error::EncodeError;

/// How message text is turned into bytes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Charset {
    /// ISO-8859-1, one byte per character U+0000..U+00FF (Vumi's TruTeq transport).
    #[default]
    Latin1,
    /// UTF-8 (python-ssmi).
    Utf8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Source {
    /// Bytes as received (or given) on the wire, in the link's charset.
    #[default]
    Wire,
    /// A Rust string (valid UTF-8), encoded with the link's charset when written.
    Unicode,
}

/// Message text: either bytes as they travel on the wire (from a decoded line) or a Unicode
/// string to be encoded with the link's [`Charset`] when the line is written.
///
/// Equality compares the representation: a decoded `Text` equals [`Text::wire`] of the same
/// bytes, not the `String` those bytes decode to.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Text {
    bytes: Bytes,
    source: Source,
}

impl Text {
    /// Text already in wire form (the link's charset); written unchanged except CR → LF.
    pub const fn wire(bytes: Bytes) -> Self {
        Self {
            bytes,
            source: Source::Wire,
        }
    }

    /// Text from a string; it is encoded with the link's charset when written.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            bytes: Bytes::from(text.into()),
            source: Source::Unicode,
        }
    }

    /// The bytes held: wire bytes, or the UTF-8 of a string made with [`Text::new`].
    pub const fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// `true` when made from a string ([`Text::new`]), `false` for wire bytes.
    pub const fn is_unicode(&self) -> bool {
        matches!(self.source, Source::Unicode)
    }

    /// `true` when there is no text.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The text as `&str` without copying, when that needs no decoding: a string made with
    /// [`Text::new`], or wire bytes that are plain ASCII (the same in every charset).
    pub fn as_str(&self) -> Option<&str> {
        match self.source {
            Source::Unicode => std::str::from_utf8(&self.bytes).ok(),
            Source::Wire if self.bytes.is_ascii() => std::str::from_utf8(&self.bytes).ok(),
            Source::Wire => None,
        }
    }

    /// The text decoded with `charset`. Latin-1 maps each byte to U+0000..U+00FF; UTF-8 is
    /// decoded lossily (U+FFFD for invalid sequences). A string made with [`Text::new`] is
    /// returned as it is.
    pub fn text(&self, charset: Charset) -> String {
        self.to_str(charset).into_owned()
    }

    /// Like [`Text::text`], borrowing when no decoding is needed.
    pub fn to_str(&self, charset: Charset) -> Cow<'_, str> {
        if let Some(text) = self.as_str() {
            return Cow::Borrowed(text);
        }
        match charset {
            Charset::Latin1 => Cow::Owned(self.bytes.iter().map(|&b| char::from(b)).collect()),
            Charset::Utf8 => String::from_utf8_lossy(&self.bytes),
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Wire => write!(f, "Text::wire({:?})", self.bytes),
            Source::Unicode => write!(f, "Text::new({:?})", String::from_utf8_lossy(&self.bytes)),
        }
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

/// A password: the bytes are sent as they are, but `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(Bytes);

impl Secret {
    /// Wraps the secret bytes.
    pub const fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The secret bytes, for writing or comparing.
    pub const fn expose(&self) -> &Bytes {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(Bytes::copy_from_slice(secret.as_bytes()))
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(Bytes::from(secret))
    }
}

/// The colon-separated `genfields` of extended USSD (`111` inbound, `120` outbound), read
/// positionally as python-ssmi does (§4.5): IMSI, subscriber type, operator id, session id,
/// ValiPort. Missing entries read as empty (servers send `::` as well as `::::`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Genfields(Bytes);

impl Genfields {
    /// Position of the IMSI.
    pub const IMSI: usize = 0;
    /// Position of the subscriber type.
    pub const SUBSCRIBER_TYPE: usize = 1;
    /// Position of the operator id.
    pub const OPERATOR_ID: usize = 2;
    /// Position of the session id.
    pub const SESSION_ID: usize = 3;
    /// Position of the ValiPort.
    pub const VALI_PORT: usize = 4;
    /// The keys Vumi uses in `helper_metadata.truteq.genfields`, in positional order.
    pub const VUMI_KEYS: [&'static str; 5] = [
        "IMSI",
        "Subscriber Type",
        "OperatorID",
        "SessionID",
        "ValiPort",
    ];

    /// Genfields from the raw field, as on the wire (`655011234567890:1::`).
    pub const fn from_raw(raw: Bytes) -> Self {
        Self(raw)
    }

    /// Joins entries with `:`. An entry that holds a colon would shift the later positions.
    pub fn from_parts<I, P>(parts: I) -> Result<Self, EncodeError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut raw = Vec::new();
        for (index, part) in parts.into_iter().enumerate() {
            let part = part.as_ref();
            if part.contains(&b':') {
                return Err(EncodeError::Colon);
            }
            if index > 0 {
                raw.push(b':');
            }
            raw.extend_from_slice(part);
        }
        Ok(Self(Bytes::from(raw)))
    }

    /// The raw field.
    pub const fn raw(&self) -> &Bytes {
        &self.0
    }

    /// The entry at `index`, empty when absent.
    pub fn get(&self, index: usize) -> Bytes {
        self.0
            .split(|&b| b == b':')
            .nth(index)
            .map_or_else(Bytes::new, |part| self.0.slice_ref(part))
    }

    /// The entries as received (at least one, possibly empty).
    pub fn iter(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.0
            .split(|&b| b == b':')
            .map(|part| self.0.slice_ref(part))
    }

    /// The IMSI (position 0).
    pub fn imsi(&self) -> Bytes {
        self.get(Self::IMSI)
    }

    /// The subscriber type (position 1).
    pub fn subscriber_type(&self) -> Bytes {
        self.get(Self::SUBSCRIBER_TYPE)
    }

    /// The operator id (position 2).
    pub fn operator_id(&self) -> Bytes {
        self.get(Self::OPERATOR_ID)
    }

    /// The session id (position 3).
    pub fn session_id(&self) -> Bytes {
        self.get(Self::SESSION_ID)
    }

    /// The ValiPort (position 4).
    pub fn vali_port(&self) -> Bytes {
        self.get(Self::VALI_PORT)
    }
}
