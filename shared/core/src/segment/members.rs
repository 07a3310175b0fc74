//! The JSON types of the members that Segment's spec defines. A message whose member
//! has another type is refused, rather than stored in `data` for readers to trip on.
//! `null` counts as absent for every member. (`userId` and `anonymousId` are checked
//! with the identity, as `invalid_identity`.)

use serde_json::{Map, Value};

use crate::event::EventProblem;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    Object,
}

const TEXT_OR_NUMBER: &[Kind] = &[Kind::Text, Kind::Number];
const TEXT: &[Kind] = &[Kind::Text];
const OBJECT: &[Kind] = &[Kind::Object];

const MEMBERS: &[(&str, &[Kind])] = &[
    ("messageId", TEXT_OR_NUMBER),
    ("previousId", TEXT_OR_NUMBER),
    ("groupId", TEXT_OR_NUMBER),
    ("event", TEXT),
    ("name", TEXT),
    ("category", TEXT),
    ("properties", OBJECT),
    ("traits", OBJECT),
    ("context", OBJECT),
    ("integrations", OBJECT),
    ("timestamp", TEXT),
    ("originalTimestamp", TEXT),
    ("sentAt", TEXT),
];

fn kind_of(value: &Value) -> Option<Kind> {
    match value {
        Value::String(_) => Some(Kind::Text),
        Value::Number(_) => Some(Kind::Number),
        Value::Object(_) => Some(Kind::Object),
        _ => None,
    }
}

fn described(kinds: &[Kind]) -> &'static str {
    match kinds {
        [Kind::Text, Kind::Number] => "a string or a number",
        [Kind::Text] => "a string",
        _ => "an object",
    }
}

/// The first defined member of `message` with a JSON type its spec does not allow.
pub(super) fn check(index: usize, message: &Map<String, Value>) -> Result<(), EventProblem> {
    for (name, kinds) in MEMBERS {
        match message.get(*name) {
            None | Some(Value::Null) => {}
            Some(value) if kind_of(value).is_some_and(|k| kinds.contains(&k)) => {}
            Some(_) => {
                return Err(super::problem(
                    index,
                    "invalid_member",
                    format!("{name} must be {}", described(kinds)),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_of_another_type_are_refused_and_null_is_absent() {
        let cases = [
            (json!({"userId": "u", "previousId": []}), Some("previousId")),
            (
                json!({"anonymousId": 7, "properties": "x"}),
                Some("properties"),
            ),
            (json!({"userId": "u", "groupId": true}), Some("groupId")),
            (json!({"userId": 42, "traits": null, "sentAt": null}), None),
            (json!({"userId": "u", "unknown": [1, 2]}), None),
        ];
        for (message, refused) in cases {
            let Value::Object(message) = message else {
                unreachable!()
            };
            let result = check(3, &message);
            match refused {
                None => assert!(result.is_ok(), "{message:?}"),
                Some(name) => {
                    let problem = result.expect_err("refused");
                    assert_eq!((problem.index, problem.code), (3, "invalid_member"));
                    assert!(problem.detail.starts_with(name), "{}", problem.detail);
                }
            }
        }
    }
}
