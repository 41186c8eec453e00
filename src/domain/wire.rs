//! How every server function's bodies cross the wire: JSON, `application/json`, sent with
//! `POST` — what programs send and read (see `docs/api.md`), and what server_fn's own `Json`
//! codec would send too.
//!
//! Why not that codec: it reads a body as bytes (`serde_json::from_slice`), while the data a
//! page hydrates from reaches the browser as text (`serde_json::from_str`). serde makes one
//! copy of a type's whole deserializer for each of the two readers, so every view the browser
//! reads was compiled into the Wasm twice. Reading bodies as text too leaves one copy. The
//! bytes on the wire are the same.

use serde::{de::DeserializeOwned, Serialize};
use server_fn::{codec::Post, Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// JSON read as text: [`Json`] is the encoding every server function names.
pub struct JsonText;

/// `POST` with a JSON body, both ways.
pub type Json = Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(value: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            <serde_json::Error as serde::de::Error>::custom("the body is not UTF-8 text")
        })?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::JsonText;
    use server_fn::{Bytes, Decodes, Encodes};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
    }

    #[test]
    fn a_value_comes_back_as_it_went() {
        let sent = Sample {
            name: "CI deploy “prod”".into(),
        };
        let bytes = <JsonText as Encodes<Sample>>::encode(&sent).unwrap();
        assert_eq!(&bytes[..], "{\"name\":\"CI deploy “prod”\"}".as_bytes());
        let read: Sample = <JsonText as Decodes<Sample>>::decode(bytes).unwrap();
        assert_eq!(read, sent);
    }

    #[test]
    fn a_body_that_is_not_text_is_refused_not_misread() {
        let error =
            <JsonText as Decodes<Sample>>::decode(Bytes::from_static(b"{\"name\":\"\xff\"}"))
                .unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }
}
