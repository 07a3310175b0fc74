//! Where a member's value lies in the event's text, found from the positions of the
//! keys around it, so that `data` can be checked and taken in one pass.
//!
//! serde_json has read the text by the time these run, so the grammar holds: a key's
//! closing quote, white space, `:`, white space, then the value; after a value, white
//! space, then `,` and the next key, or `}` and the end of the object.

use serde_json::value::RawValue;

/// JSON's white space (RFC 8259, section 2).
fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Where `key`'s text starts in `input`, if it was borrowed from it (a key without
/// escapes), found by its address: an unescaped copy lives elsewhere.
fn key_offset(input: &str, key: &str) -> Option<usize> {
    let offset = (key.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let inside = offset >= 1 && offset + key.len() < input.len();
    let quoted = inside && input.as_bytes()[offset - 1] == b'"';
    quoted.then_some(offset)
}

/// Where the value of the member named `key` starts.
pub(super) fn value_start(input: &str, key: &str) -> Option<usize> {
    let after_quote = key_offset(input, key)? + key.len() + 1;
    let rest = input.get(after_quote..)?.trim_start_matches(is_json_space);
    let value = rest.strip_prefix(':')?.trim_start_matches(is_json_space);
    Some(input.len() - value.len())
}

/// The value that starts at `start` and is followed by the key `next`; read again from
/// `start` when `next` was not borrowed (a key with escapes).
pub(super) fn until_key<'a>(input: &'a str, start: usize, next: &str) -> Result<&'a str, String> {
    let before_key = key_offset(input, next).and_then(|key| {
        let between = input.get(start..key - 1)?.trim_end_matches(is_json_space);
        let value = between.strip_suffix(',')?.trim_end_matches(is_json_space);
        (!value.is_empty()).then_some(value)
    });
    match before_key {
        Some(value) => Ok(value),
        None => read_again(input, start),
    }
}

/// The value that starts at `start` and is the object's last member.
pub(super) fn until_end(input: &str, start: usize) -> &str {
    let object = input[start..].trim_end_matches(is_json_space);
    let members = object.strip_suffix('}').unwrap_or(object);
    members.trim_end_matches(is_json_space)
}

/// The JSON value at `start`, found by reading it again.
fn read_again(input: &str, start: usize) -> Result<&str, String> {
    let mut values = serde_json::Deserializer::from_str(&input[start..]).into_iter::<&RawValue>();
    match values.next() {
        Some(Ok(value)) => Ok(value.get()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("a value was expected".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::structured::Members;

    fn data_of(json: &str) -> (Option<String>, bool) {
        let m = Members::parse_checked(json).unwrap();
        (m.data.map(str::to_owned), m.data_checked)
    }

    #[test]
    fn data_is_found_between_its_neighbours_wherever_it_stands() {
        for (json, data) in [
            (r#"{"data":{"a":[1,2]},"id":"x"}"#, r#"{"a":[1,2]}"#),
            (
                r#"{ "id" : "x" , "data" :  "text" , "b" : 1 }"#,
                r#""text""#,
            ),
            (
                "{\"id\":\"x\",\n\t\"data\"\r\n:\n[ 1 , 2 ]\n}\n",
                "[ 1 , 2 ]",
            ),
            (r#"{"data":null}"#, "null"),
            (r#"{"data":1,"data":{"b":"}"}}"#, r#"{"b":"}"}"#),
            (r#"{"data":"x","d\u0061ta":2}"#, "2"),
            (r#"{"data":[3],"\u0069d":"x"}"#, "[3]"),
        ] {
            assert_eq!(data_of(json).0.as_deref(), Some(data), "{json}");
        }
        assert!(data_of(r#"{"data":{"a":1}}"#).1, "checked in the same pass");
        assert!(
            !data_of(r#"{"d\u0061ta":{"a":1}}"#).1,
            "an escaped key: checked later"
        );
    }

    #[test]
    fn data_that_a_model_cannot_read_fails_the_pass() {
        for json in [
            r#"{"data":1e400}"#,
            r#"{"data":"\ud800"}"#,
            r#"{"data":[1e999],"id":"x"}"#,
        ] {
            assert!(Members::parse_checked(json).is_err(), "{json}");
        }
        assert!(
            Members::parse(r#"{"data":1e400}"#).is_ok(),
            "the trusted parse does not look"
        );
    }
}
