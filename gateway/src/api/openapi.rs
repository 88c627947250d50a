//! The OpenAPI 3.0 description served at `/api/v1/openapi.json`, built from the running
//! configuration (the `transport` parameter lists the served transports, the limits are the
//! configured ones). `./scripts/test` runs schemathesis against it (`gateway/tests/suite/api/schema.rs`).

use serde_json::{Value, json};

use super::config::ApiConfig;
use super::record::{MAX_LIST, Status};

const MSISDN: &str = r"^\+?[0-9]{6,15}$";
const SENDER: &str = r"^\+?[0-9]{3,15}$";

fn error_responses(codes: &[&str]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for code in codes {
        let description = match *code {
            "400" => "Bad input; `field` names the field at fault. Nothing was sent.",
            "207" => {
                "Some messages were sent: `sent` lists them, `unconfirmed` those whose fate is unknown, `not_sent` the recipients to resend to."
            }
            "401" => "Missing or wrong credentials (HTTP Basic or a Bearer token).",
            "408" => "The body did not arrive within the request timeout. Nothing was sent.",
            "413" => "The body is larger than the limit. Nothing was sent.",
            "404" => "No such message for this account and transport.",
            "415" => "The body is neither form-encoded nor JSON.",
            "429" => {
                "The account's rate limit, or the address's failed-login limit, is reached; see `Retry-After` (seconds)."
            }
            _ => "The bus or the state store is unavailable; retry later.",
        };
        out.insert(
            (*code).to_owned(),
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
    }
    out
}

fn body(schema: &str, arrays: &[&str]) -> Value {
    let encoding: serde_json::Map<String, Value> = arrays
        .iter()
        .map(|a| ((*a).to_owned(), json!({"style": "form", "explode": true})))
        .collect();
    json!({
        "required": true,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": format!("#/components/schemas/{schema}")},
                "encoding": encoding,
            },
            "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
        }
    })
}

fn with_responses(mut op: Value, ok: Value, errors: &[&str]) -> Value {
    let mut responses = error_responses(errors);
    responses.insert("200".into(), ok);
    op["responses"] = Value::Object(responses);
    op
}

/// The document for `config`.
pub(crate) fn document(config: &ApiConfig) -> Value {
    let transport = json!({
        "name": "transport", "in": "path", "required": true,
        "description": "A transport id the API serves (api.transports) and the account may use; another value is a 400 naming `transport`.",
        "schema": {"type": "string", "enum": config.transports},
    });
    let records = json!({
        "description": "The messages, one per recipient.",
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}}}
    });
    let send_errors = ["207", "400", "401", "408", "413", "415", "429", "503"];
    let send = with_responses(
        json!({
            "summary": "Send one SMS per to_msisdn",
            "description": "Publishes one Vumi user_message per recipient to `<transport>.outbound`; the returned `id` is its message_id.",
            "operationId": "send",
            "parameters": [transport.clone()],
            "requestBody": body("SendRequest", &["to_msisdn"]),
        }),
        records.clone(),
        &send_errors,
    );
    let template_send = with_responses(
        json!({
            "summary": "Send a template, filled per recipient",
            "description": "`template` holds `{{name}}` placeholders; for each, give `template_<name>` once per recipient, in the order of `to_msisdn`. A `template_*` field the template does not use is a 400.",
            "operationId": "templateSend",
            "parameters": [transport.clone()],
            "requestBody": body("TemplateSendRequest", &["to_msisdn"]),
        }),
        records.clone(),
        &send_errors,
    );
    let status_one = with_responses(
        json!({
            "summary": "One message's status",
            "operationId": "status",
            "parameters": [transport.clone(), {
                "name": "id", "in": "path", "required": true,
                "schema": {"type": "string"},
                "description": "The id send returned."
            }],
        }),
        json!({
            "description": "The message.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}
        }),
        &["400", "401", "404", "408", "413", "429", "503"],
    );
    let status_list = with_responses(
        json!({
            "summary": "Statuses by date or by ids",
            "description": format!("Give `since` (messages created at or after it, oldest first, at most {MAX_LIST}) or one or more `id` (unknown ids are left out), not both."),
            "operationId": "statusList",
            "parameters": [transport, {
                "name": "since", "in": "query", "required": false,
                "description": "RFC 3339 (2026-01-02T03:04:05Z, offsets allowed), `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`, UTC unless an offset is given.",
                "schema": {"type": "string"}
            }, {
                "name": "id", "in": "query", "required": false, "style": "form", "explode": true,
                "schema": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST}
            }],
        }),
        records,
        &["400", "401", "408", "413", "429", "503"],
    );
    let callbacks = with_responses(
        json!({
            "summary": "Set the account's callback URLs",
            "description": "Replaces both URLs (absent or empty: none). Inbound messages are POSTed as JSON to `sms_received`, status changes from nacks and delivery reports to `sms_receipt`, retried with backoff until a 2xx answer (bounded attempts). http:// and https:// URLs are taken (https receivers verified); internal addresses are refused unless allowed by the operator.",
            "operationId": "setCallbacks",
            "requestBody": body("Callbacks", &[]),
        }),
        json!({
            "description": "The URLs now set.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Callbacks"}}}
        }),
        &["400", "401", "408", "413", "415", "429", "503"],
    );
    let msisdn_list = json!({
        "type": "array", "minItems": 1, "maxItems": config.max_recipients,
        "items": {"type": "string", "pattern": MSISDN}
    });
    let sender =
        json!({"type": "string", "pattern": SENDER, "description": "An MSISDN or short code."});
    let nullable_url = json!({
        "type": "string", "nullable": true, "maxLength": 2048,
        "pattern": r"^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?)?$",
        "description": "An absolute http:// or https:// URL, or empty for none."
    });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Richmond HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Send SMS through Richmond's transports and follow their status. Bodies are form-encoded (repeat a key for a list) or JSON. Every endpoint but this description needs HTTP Basic auth and counts against the account's rate limit.\n\n`transport_status`: `pending` (published, no answer yet) → `submitted` (ack, or a pending delivery report) → `delivered` (delivery report; `delivered_at` set) or `failed` (nack or failed delivery report).",
        },
        "security": [{"basic": []}, {"bearer": []}],
        "paths": {
            "/api/v1/sms/{transport}/send.json": {"post": send},
            "/api/v1/sms/{transport}/template_send.json": {"post": template_send},
            "/api/v1/sms/{transport}/status/{id}.json": {"get": status_one},
            "/api/v1/sms/{transport}/status.json": {"get": status_list},
            "/api/v1/account/callbacks.json": {"put": callbacks},
            "/api/v1/openapi.json": {"get": {
                "summary": "This description",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"}
            },
            "schemas": {
                "SendRequest": {
                    "type": "object",
                    "required": ["to_msisdn", "from_msisdn", "message"],
                    "properties": {
                        "to_msisdn": msisdn_list,
                        "from_msisdn": sender,
                        "message": {"type": "string", "minLength": 1, "maxLength": config.max_message_chars},
                    },
                },
                "TemplateSendRequest": {
                    "type": "object",
                    "required": ["to_msisdn", "from_msisdn", "template"],
                    "properties": {
                        "to_msisdn": msisdn_list,
                        "from_msisdn": sender,
                        "template": {"type": "string", "minLength": 1},
                    },
                    "additionalProperties": {"type": "array", "items": {"type": "string"}, "description": "template_<name>: one value per recipient."},
                },
                "Callbacks": {
                    "type": "object",
                    "properties": {"sms_received": nullable_url, "sms_receipt": nullable_url},
                },
                "Message": {
                    "type": "object",
                    "required": ["id", "to_msisdn", "from_msisdn", "message", "transport_status", "delivered_at", "created_at", "updated_at"],
                    "properties": {
                        "id": {"type": "string", "description": "The Vumi message_id (32 hex digits)."},
                        "to_msisdn": {"type": "string"},
                        "from_msisdn": {"type": "string"},
                        "message": {"type": "string"},
                        "transport_status": {"type": "string", "enum": Status::ALL},
                        "delivered_at": {"type": "string", "format": "date-time", "nullable": true},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "description": "A stable code: invalid_field, unauthorized, rate_limited, busy, timeout, body_too_large, not_found, unsupported_media_type, bus_unavailable, partly_sent (207, with sent, unconfirmed and not_sent), store_unavailable."},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "The field at fault (invalid_field only)."},
                    },
                },
            },
        },
    })
}
