//! HTTP SMS providers' formats: what their APIs post to a gateway (MO, delivery notifications)
//! and what they answer, read into typed values; and the few encodings their requests need.
//!
//! * [`chikka`] — Chikka's form posts (reference/http-providers.md §3.3, §3.4).
//! * [`clickatell`] — Clickatell's answers, status callbacks and MO, legacy and Platform
//!   (reference/http-providers.md §1).
//! * [`opera`] — Opera's XML-RPC SendSMS and answer, `bspostevent` MO and receipts
//!   (reference/http-providers.md §2).
//!
//! Also here: form bodies read as text ([`form_fields`]) or as raw octets
//! ([`form_fields_raw`], for providers that post text in another charset), the leaf elements
//! of a small XML document ([`xml_leaves`], [`xml_leaf_elements`]) and the scalar members of a JSON object
//! ([`json_fields`]).
//!
//! Not handled here: HTTP itself.

pub mod chikka;
pub mod clickatell;
pub mod opera;

/// The fields of an `application/x-www-form-urlencoded` body, in order (`+` and `%XX`
/// decoded; invalid UTF-8 replaced).
#[must_use]
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The fields of a form body (or a query string) with their values as the octets they
/// encode (`+` is a space, `%XX` an octet), names as text.
#[must_use]
pub fn form_fields_raw(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let decode = |s: &[u8]| {
                let plus: Vec<u8> = s
                    .iter()
                    .map(|b| if *b == b'+' { b' ' } else { *b })
                    .collect();
                percent_encoding::percent_decode(&plus).collect::<Vec<u8>>()
            };
            (
                String::from_utf8_lossy(&decode(name)).into_owned(),
                decode(value),
            )
        })
        .collect()
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for XML text and attributes.
#[must_use]
pub fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Why an XML or JSON body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a readable {0} document")]
pub struct Unreadable(pub &'static str);

/// Deepest element nesting [`xml_leaves`] reads.
const MAX_XML_DEPTH: usize = 16;

/// An element of an XML document that holds only text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Its local name (namespace prefix dropped).
    pub name: String,
    /// The value of the attribute asked for, when the element has it.
    pub attr: Option<String>,
    /// Its text, entities resolved (empty for an empty element).
    pub text: String,
    /// Which element holds it: the number of elements opened before its parent (the root is
    /// 0), so leaves of one parent share it and those of its siblings do not.
    pub parent: usize,
}

/// The elements of `xml` that hold only text, as (local name, text) in document order
/// (entities resolved; namespace prefixes dropped). Elements with children contribute only
/// through their leaves; empty leaves give an empty text.
///
/// # Errors
/// The document is not well-formed, or nests deeper than 16 elements.
pub fn xml_leaves(xml: &str) -> Result<Vec<(String, String)>, Unreadable> {
    Ok(xml_leaf_elements(xml, "")?
        .into_iter()
        .map(|l| (l.name, l.text))
        .collect())
}

/// The text-only elements of `xml` with the value of their attribute `attr` and their
/// parent (see [`Leaf`]).
///
/// # Errors
/// The document is not well-formed, or nests deeper than 16 elements.
pub fn xml_leaf_elements(xml: &str, attr: &str) -> Result<Vec<Leaf>, Unreadable> {
    use quick_xml::events::{BytesStart, Event};
    let bad = Unreadable("XML");
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut leaves = Vec::new();
    // Open elements: the leaf it would be, whether a child element came, its own number.
    let mut open: Vec<(Leaf, bool, usize)> = Vec::new();
    let mut opened = 0usize;
    let leaf = |e: &BytesStart<'_>, parent: usize| -> Result<Leaf, Unreadable> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut value = None;
        if !attr.is_empty() {
            for a in e.attributes() {
                let a = a.map_err(|_| bad)?;
                if a.key.local_name().as_ref() == attr.as_bytes() {
                    value = Some(a.unescape_value().map_err(|_| bad)?.into_owned());
                }
            }
        }
        Ok(Leaf {
            name,
            attr: value,
            text: String::new(),
            parent,
        })
    };
    loop {
        match reader.read_event().map_err(|_| bad)? {
            Event::Start(e) => {
                if open.len() >= MAX_XML_DEPTH {
                    return Err(bad);
                }
                let parent = open.last_mut().map_or(0, |p| {
                    p.1 = true;
                    p.2
                });
                open.push((leaf(&e, parent)?, false, opened));
                opened += 1;
            }
            Event::Empty(e) => {
                let parent = open.last_mut().map_or(0, |p| {
                    p.1 = true;
                    p.2
                });
                leaves.push(leaf(&e, parent)?);
                opened += 1;
            }
            Event::Text(t) => {
                if let Some(current) = open.last_mut() {
                    current.0.text.push_str(&t.decode().map_err(|_| bad)?);
                }
            }
            Event::CData(t) => {
                if let Some(current) = open.last_mut() {
                    current.0.text.push_str(&t.decode().map_err(|_| bad)?);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|_| bad)? {
                    Some(ch) => ch.to_string(),
                    None => {
                        let name = r.decode().map_err(|_| bad)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or(bad)?
                            .to_owned()
                    }
                };
                if let Some(current) = open.last_mut() {
                    current.0.text.push_str(&ch);
                }
            }
            Event::End(_) => {
                let (leaf, has_children, _) = open.pop().ok_or(bad)?;
                if !has_children {
                    leaves.push(leaf);
                }
            }
            Event::Eof => {
                return if open.is_empty() && !leaves.is_empty() {
                    Ok(leaves)
                } else {
                    Err(bad)
                };
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// The scalar members of a JSON object, as text (numbers and booleans written out; `null`,
/// arrays and objects left out).
///
/// # Errors
/// The body is not a JSON object.
pub fn json_fields(body: &[u8]) -> Result<Vec<(String, String)>, Unreadable> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| Unreadable("JSON"))?;
    let serde_json::Value::Object(members) = value else {
        return Err(Unreadable("JSON"));
    };
    Ok(members
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_form_values_keep_their_octets() {
        let fields = form_fields_raw(b"text=Artwell+S%ECbbnda&charset=ISO-8859-1&empty=&bare");
        assert_eq!(fields[0], ("text".into(), b"Artwell S\xECbbnda".to_vec()));
        assert_eq!(fields[1].1, b"ISO-8859-1");
        assert_eq!(fields[2], ("empty".into(), vec![]));
        assert_eq!(fields[3], ("bare".into(), vec![]));
        assert!(form_fields_raw(b"").is_empty());
    }

    #[test]
    fn xml_leaves_are_read_with_entities_and_without_prefixes() {
        let xml = "<?xml version=\"1.0\"?><callback><apiMsgId>996f</apiMsgId><cliMsgId></cliMsgId>\
                   <to>2799</to><x:text xmlns:x=\"u\">a &amp; b &#233;<![CDATA[<c>]]></x:text><e/></callback>";
        let leaves = xml_leaves(xml).unwrap();
        assert_eq!(
            leaves,
            [
                ("apiMsgId".into(), "996f".into()),
                ("cliMsgId".into(), String::new()),
                ("to".into(), "2799".into()),
                ("text".into(), "a & b é<c>".into()),
                ("e".into(), String::new()),
            ]
        );
        for bad in ["", "<a>", "<a></b>", "text", "<a>&nope;</a>"] {
            assert!(xml_leaves(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(17) + &"</a>".repeat(17);
        assert!(xml_leaves(&deep).is_err());
    }

    #[test]
    fn leaf_elements_carry_an_attribute_and_their_parent() {
        let xml = "<r><g><f name=\"A\" type = \"string\">1</f><f name='B'/></g><g><f>2</f></g></r>";
        let leaves = xml_leaf_elements(xml, "name").unwrap();
        let got: Vec<_> = leaves
            .iter()
            .map(|l| (l.attr.as_deref(), l.text.as_str(), l.parent))
            .collect();
        assert_eq!(
            got,
            [(Some("A"), "1", 1), (Some("B"), "", 1), (None, "2", 4)]
        );
    }

    #[test]
    fn json_fields_are_the_scalars_of_an_object() {
        let fields = json_fields(br#"{"messageId":"m1","statusCode":4,"x":null,"ok":true}"#);
        assert_eq!(
            fields.unwrap(),
            [
                ("messageId".into(), "m1".into()),
                ("ok".into(), "true".into()),
                ("statusCode".into(), "4".into()),
            ]
        );
        assert!(json_fields(b"[1]").is_err());
        assert!(json_fields(b"{").is_err());
    }
}
