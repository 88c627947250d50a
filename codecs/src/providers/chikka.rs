//! Chikka's posts to a gateway: an MO (`message_type=incoming`) or a delivery notification
//! (`message_type=outgoing`), as form fields.
//!
//! Reference: reference/http-providers.md §3.3 (MO fields; vectors from slave-api and
//! courier), §3.4 (notification fields; `SENT` / `FAILED`).
//!
//! `SENT` is read as `delivered`: it is the only success Chikka reports (handed to the
//! carrier), and the one terminal status a Vumi application can act on.

use crate::vumi::DeliveryStatus;

/// A post from Chikka, borrowed from its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post<'a> {
    /// An MO.
    Incoming {
        /// `mobile_number` (`63` + 10 digits).
        number: &'a str,
        /// Opaque; a REPLY to this MO must carry it.
        request_id: &'a str,
        text: &'a str,
        /// The access code it was sent to, when the post names it.
        shortcode: Option<&'a str>,
    },
    /// A delivery notification for a message the gateway sent (`message_id` is the
    /// gateway's own id).
    Notification {
        message_id: &'a str,
        status: DeliveryStatus,
        /// `SENT` or `FAILED`, as posted.
        raw_status: &'a str,
        credits_cost: Option<&'a str>,
    },
}

/// What is wrong with a post: which kind it claimed to be (`mo`, `notification`, or `other`
/// for a missing or unknown `message_type`), for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid Chikka {0} post")]
pub struct BadPost(pub &'static str);

impl BadPost {
    /// A stable snake_case label.
    #[must_use]
    pub const fn code(self) -> &'static str {
        self.0
    }
}

/// Reads posted form fields.
///
/// # Errors
/// A field the post's kind requires is missing or empty, a status is neither `SENT` nor
/// `FAILED`, or `message_type` is missing or unknown.
pub fn parse(form: &[(String, String)]) -> Result<Post<'_>, BadPost> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let non_empty = |name: &str| field(name).filter(|v| !v.is_empty());
    match field("message_type") {
        Some("incoming") => {
            let (Some(number), Some(request_id), Some(text)) = (
                non_empty("mobile_number"),
                non_empty("request_id"),
                field("message"),
            ) else {
                return Err(BadPost("mo"));
            };
            Ok(Post::Incoming {
                number,
                request_id,
                text,
                shortcode: non_empty("shortcode"),
            })
        }
        Some("outgoing") => {
            let bad = BadPost("notification");
            let raw_status = field("status").ok_or(bad)?;
            let status = match raw_status {
                "SENT" => DeliveryStatus::Delivered,
                "FAILED" => DeliveryStatus::Failed,
                _ => return Err(bad),
            };
            Ok(Post::Notification {
                message_id: non_empty("message_id").ok_or(bad)?,
                status,
                raw_status,
                credits_cost: field("credits_cost"),
            })
        }
        _ => Err(BadPost("other")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::form_fields;

    #[test]
    fn the_reference_mo_vectors_read() {
        // slave-api payloads/message.sh
        let body = b"message_type=incoming&mobile_number=639177982781&shortcode=29290700&request_id=5048303030534D415254303030303032393230303032303030303030303133323030303036333933393932333934303030303030313331313035303735383137&message=bord+on+eto+yung+message+ko&timestamp=1383609498.44";
        let form = form_fields(body);
        let Ok(Post::Incoming {
            number,
            request_id,
            text,
            shortcode,
        }) = parse(&form)
        else {
            panic!("not an MO: {:?}", parse(&form));
        };
        assert_eq!(number, "639177982781");
        assert_eq!(request_id.len(), 128);
        assert_eq!(text, "bord on eto yung message ko");
        assert_eq!(shortcode, Some("29290700"));
        // courier's: no shortcode.
        let form = form_fields(b"message_type=incoming&mobile_number=639178020779&request_id=4004&message=Hello+World&timestamp=1457670059.69");
        assert!(matches!(
            parse(&form),
            Ok(Post::Incoming {
                text: "Hello World",
                request_id: "4004",
                shortcode: None,
                ..
            })
        ));
    }

    #[test]
    fn notifications_read_and_bad_posts_are_named() {
        let form = form_fields(b"message_type=outgoing&message_id=10&status=SENT");
        assert_eq!(
            parse(&form),
            Ok(Post::Notification {
                message_id: "10",
                status: DeliveryStatus::Delivered,
                raw_status: "SENT",
                credits_cost: None,
            })
        );
        let form = form_fields(b"message_type=outgoing&message_id=10&status=FAILED&credits_cost=1");
        assert!(matches!(
            parse(&form),
            Ok(Post::Notification {
                status: DeliveryStatus::Failed,
                ..
            })
        ));
        for (body, kind) in [
            (
                &b"message_type=outgoing&message_id=10&status=LOST"[..],
                "notification",
            ),
            (b"message_type=outgoing&status=SENT", "notification"),
            (
                b"message_type=incoming&mobile_number=639170000000&message=x",
                "mo",
            ),
            (b"message_type=incoming&request_id=1&message=x", "mo"),
            (b"message_type=whatever", "other"),
            (b"", "other"),
        ] {
            assert_eq!(parse(&form_fields(body)), Err(BadPost(kind)), "{body:?}");
        }
    }
}
