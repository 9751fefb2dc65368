//! Agreeing on an extension during the handshake: RFC 6455 §9.1 (the
//! `Sec-WebSocket-Extensions` header) and RFC 7692 §5–§7.1
//! (permessage-deflate's offer, its parameters, and the server's answer).
//!
//! A client lists what it would like, most wanted first:
//!
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,
//!                           permessage-deflate
//! ```
//!
//! Each comma-separated item is one *offer*: an extension name and its
//! `;`-separated parameters, each a name with or without `=value` (a value
//! may be quoted). The server picks at most one offer per extension and
//! names it, with the parameters it settled on, in its `101`. Whatever the
//! server leaves out of its answer is declined; the connection goes on
//! without it.
//!
//! The server never has to fail the handshake over an offer: RFC 7692 §7
//! says to *decline* an offer it cannot honour (an unknown parameter, a
//! value out of range, a parameter given twice), and move on to the next.
//! Failing is the client's duty, when the answer is not one of its offers.

use std::fmt;

/// The only extension this crate speaks (RFC 7692).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One offer as written: the extension's name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

/// Splits the values of every `Sec-WebSocket-Extensions` header into
/// offers, in order. Commas and semicolons inside quoted values do not
/// split. Items that are not even a name are skipped.
pub fn parse_offers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Offer> {
    let mut offers = Vec::new();
    for value in values {
        for item in split_outside_quotes(value, ',') {
            let mut parts = split_outside_quotes(&item, ';').into_iter();
            let name = parts.next().unwrap_or_default();
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let params = parts
                .map(|param| match param.split_once('=') {
                    Some((key, value)) => {
                        let value = value.trim();
                        let unquoted = value
                            .strip_prefix('"')
                            .and_then(|rest| rest.strip_suffix('"'))
                            .and_then(unescape)
                            .unwrap_or_else(|| value.to_string());
                        (key.trim().to_ascii_lowercase(), Some(unquoted))
                    }
                    None => (param.trim().to_ascii_lowercase(), None),
                })
                .collect();
            offers.push(Offer {
                name: name.to_ascii_lowercase(),
                params,
            });
        }
    }
    offers
}

/// A quoted string's content with each quoted pair (a backslash and the
/// character it escapes, RFC 9110 §5.6.4) taken as that character: `\5`
/// is `5`, and `\\` a backslash. `None` if a backslash escapes the closing
/// quote: the string never ended.
fn unescape(quoted: &str) -> Option<String> {
    let mut unescaped = String::with_capacity(quoted.len());
    let mut escaped = false;
    for c in quoted.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        unescaped.push(c);
    }
    (!escaped).then_some(unescaped)
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        let current = pieces.last_mut();
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if c == separator && !quoted => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(current) = current {
            current.push(c);
        }
    }
    pieces
}

/// What both sides agreed on for permessage-deflate (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateAgreement {
    /// The server starts every message with an empty window (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client does (§7.1.1.2): the server may forget its window too.
    pub client_no_context_takeover: bool,
    /// The largest window (as a power of two) the server compresses with
    /// (§7.1.2.1): 15, 32 KiB, unless the client asked for less.
    pub server_max_window_bits: u8,
    /// Whether the client named `server_max_window_bits`, which the answer
    /// must then repeat.
    pub server_window_requested: bool,
    /// The client's window, if it said (§7.1.2.2); the server inflates
    /// with a 15-bit window, which reads any smaller one, so this only
    /// informs.
    pub client_max_window_bits: Option<u8>,
}

/// Why an offer of permessage-deflate was declined (RFC 7692 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decline {
    /// A parameter §7.1 does not define for an offer.
    UnknownParameter(String),
    /// The same parameter twice.
    Repeated(String),
    /// A value where none belongs, or none where one must be, or one out of
    /// 8–15.
    BadValue {
        param: String,
        value: Option<String>,
    },
}

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decline::UnknownParameter(param) => write!(f, "unknown parameter {param:?}"),
            Decline::Repeated(param) => write!(f, "parameter {param:?} given twice"),
            Decline::BadValue {
                param,
                value: Some(value),
            } => write!(f, "{param}={value:?} is not allowed"),
            Decline::BadValue { param, value: None } => {
                write!(f, "{param} needs a value")
            }
        }
    }
}

/// A window size as §7.1.2 writes it: a decimal 8 to 15, no leading zero.
fn window_bits(param: &str, value: &Option<String>) -> Result<u8, Decline> {
    let bad = || Decline::BadValue {
        param: param.to_string(),
        value: value.clone(),
    };
    let text = value.as_deref().ok_or_else(bad)?;
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u8>() {
        Ok(bits @ 8..=15) => Ok(bits),
        _ => Err(bad()),
    }
}

impl DeflateAgreement {
    /// Reads one permessage-deflate offer's parameters, or says why the
    /// server declines it.
    pub fn from_offer(offer: &Offer) -> Result<DeflateAgreement, Decline> {
        let mut agreement = DeflateAgreement {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            server_window_requested: false,
            client_max_window_bits: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (param, value) in &offer.params {
            if seen.contains(&param.as_str()) {
                return Err(Decline::Repeated(param.clone()));
            }
            seen.push(param);
            let no_value = || match value {
                None => Ok(true),
                Some(_) => Err(Decline::BadValue {
                    param: param.clone(),
                    value: value.clone(),
                }),
            };
            match param.as_str() {
                "server_no_context_takeover" => agreement.server_no_context_takeover = no_value()?,
                "client_no_context_takeover" => agreement.client_no_context_takeover = no_value()?,
                "server_max_window_bits" => {
                    agreement.server_max_window_bits = window_bits(param, value)?;
                    agreement.server_window_requested = true;
                }
                // Without a value it only says the client could honour a
                // limit; with one, it is the client's own window.
                "client_max_window_bits" => {
                    if value.is_some() {
                        agreement.client_max_window_bits = Some(window_bits(param, value)?);
                    }
                }
                _ => return Err(Decline::UnknownParameter(param.clone())),
            }
        }
        Ok(agreement)
    }

    /// Reads the server's answer to a client's offer, from the client's
    /// side: as an offer is read, except that `client_max_window_bits`
    /// needs a value there (§7.1.2.2: only an offer may name it alone).
    pub fn from_response(answer: &Offer) -> Result<DeflateAgreement, Decline> {
        if let Some((param, None)) = answer
            .params
            .iter()
            .find(|(param, value)| param == "client_max_window_bits" && value.is_none())
        {
            return Err(Decline::BadValue {
                param: param.clone(),
                value: None,
            });
        }
        DeflateAgreement::from_offer(answer)
    }

    /// The value of our `Sec-WebSocket-Extensions` answer: the extension
    /// and every parameter the client must know we accepted.
    pub fn response(&self) -> String {
        let mut answer = PERMESSAGE_DEFLATE.to_string();
        if self.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if self.server_window_requested {
            answer.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        answer
    }
}

/// What became of the client's offers of permessage-deflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// The offer taken, if one could be.
    pub agreed: Option<DeflateAgreement>,
    /// Offers passed over, in order, with why.
    pub declined: Vec<(Offer, Decline)>,
}

/// Takes the first permessage-deflate offer the server can honour; other
/// extensions are ignored (declined by omission).
pub fn negotiate(offers: &[Offer]) -> Negotiation {
    let mut declined = Vec::new();
    for offer in offers
        .iter()
        .filter(|offer| offer.name == PERMESSAGE_DEFLATE)
    {
        match DeflateAgreement::from_offer(offer) {
            Ok(agreement) => {
                return Negotiation {
                    agreed: Some(agreement),
                    declined,
                };
            }
            Err(why) => declined.push((offer.clone(), why)),
        }
    }
    Negotiation {
        agreed: None,
        declined,
    }
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (param, value) in &self.params {
            match value {
                Some(value) => write!(f, "; {param}={value}")?,
                None => write!(f, "; {param}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(header: &str) -> Negotiation {
        negotiate(&parse_offers([header]))
    }

    #[test]
    fn chromiums_offer_is_taken_with_nothing_to_add() {
        // What every Chromium sends.
        let negotiation = agree("permessage-deflate; client_max_window_bits");
        let agreed = negotiation.agreed.unwrap();
        assert_eq!(agreed.server_max_window_bits, 15);
        assert_eq!(agreed.client_max_window_bits, None);
        assert_eq!(agreed.response(), "permessage-deflate");
    }

    #[test]
    fn every_parameter_with_and_without_values() {
        let negotiation = agree(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9",
        );
        let agreed = negotiation.agreed.unwrap();
        assert_eq!(
            agreed,
            DeflateAgreement {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 10,
                server_window_requested: true,
                client_max_window_bits: Some(9),
            }
        );
        assert_eq!(
            agreed.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10"
        );
        // §7.1.2: a value may be quoted.
        let quoted = agree("permessage-deflate; server_max_window_bits=\"12\"");
        assert_eq!(quoted.agreed.unwrap().server_max_window_bits, 12);
        // A quoted pair stands for the character it escapes: `"1\2"` is 12,
        // and an escaped backslash is a backslash, no digit.
        let escaped = agree(r#"permessage-deflate; server_max_window_bits="1\2""#);
        assert_eq!(escaped.agreed.unwrap().server_max_window_bits, 12);
        let backslash = agree(r#"permessage-deflate; server_max_window_bits="\\12""#);
        assert_eq!(backslash.agreed, None);
    }

    #[test]
    fn a_quoted_value_ending_in_an_escaped_quote_is_not_a_value() {
        // `"12\"`: the last quote is escaped, so the quoted string never
        // ends; it is not the value 12.
        let negotiation = agree(r#"permessage-deflate; server_max_window_bits="12\""#);
        assert_eq!(negotiation.agreed, None);
        assert_eq!(negotiation.declined.len(), 1);
    }

    #[test]
    fn offers_the_server_cannot_honour_are_declined_and_the_next_taken() {
        let rows = [
            ("permessage-deflate; x_unknown", "unknown parameter"),
            (
                "permessage-deflate; server_max_window_bits",
                "needs a value",
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                "not allowed",
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                "not allowed",
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                "not allowed",
            ),
            (
                "permessage-deflate; client_max_window_bits=abc",
                "not allowed",
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                "not allowed",
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                "twice",
            ),
        ];
        for (offer, why) in rows {
            let negotiation = agree(&format!("{offer}, permessage-deflate"));
            assert_eq!(negotiation.declined.len(), 1, "{offer}");
            assert!(
                negotiation.declined[0].1.to_string().contains(why),
                "{offer}: {}",
                negotiation.declined[0].1
            );
            assert_eq!(
                negotiation.agreed.map(|agreed| agreed.response()),
                Some("permessage-deflate".to_string()),
                "{offer}"
            );
            assert_eq!(agree(offer).agreed, None, "{offer}");
        }
    }

    #[test]
    fn other_extensions_and_several_headers() {
        let offers = parse_offers([
            "x-webkit-deflate-frame, foo; bar=\"a,b;c\"",
            "PerMessage-Deflate; Server_No_Context_Takeover",
        ]);
        assert_eq!(offers.len(), 3);
        assert_eq!(offers[1].params, [("bar".into(), Some("a,b;c".into()))]);
        let negotiation = negotiate(&offers);
        assert!(negotiation.agreed.unwrap().server_no_context_takeover);
        assert_eq!(agree("x-webkit-deflate-frame").agreed, None);
        assert_eq!(agree("").agreed, None);
    }
}
