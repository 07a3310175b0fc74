//! A journey query's filter expression, applied by DynamoDB after the key condition.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use cjaas_core::tape::JourneyQuery;

/// Not expired, `type IN (…)` and `source = …`, applied by DynamoDB after the key
/// condition. TTL deletion lags by up to days, so expired entries are left out here.
pub(super) struct Filter {
    expression: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(String, AttributeValue)>,
}

impl Filter {
    pub(super) fn apply(
        self,
        mut request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        request = request.filter_expression(self.expression);
        for (placeholder, name) in self.names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (name, value) in self.values {
            request = request.expression_attribute_values(name, value);
        }
        request
    }
}

pub(super) fn filter_expression(query: &JourneyQuery, now: DateTime<Utc>) -> Filter {
    let mut clauses = vec!["(attribute_not_exists(expires_at) OR expires_at > :now)".to_owned()];
    let mut names = Vec::new();
    let mut values = vec![(
        ":now".to_owned(),
        AttributeValue::N(now.timestamp().to_string()),
    )];
    if !query.types.is_empty() {
        let placeholders: Vec<String> = (0..query.types.len()).map(|i| format!(":t{i}")).collect();
        clauses.push(format!("#type IN ({})", placeholders.join(", ")));
        names.push(("#type", "type"));
        values.extend(
            placeholders
                .into_iter()
                .zip(query.types.iter().map(|t| AttributeValue::S(t.clone()))),
        );
    }
    if let Some(source) = &query.source {
        clauses.push("#source = :source".to_owned());
        names.push(("#source", "source"));
        values.push((":source".to_owned(), AttributeValue::S(source.clone())));
    }
    Filter {
        expression: clauses.join(" AND "),
        names,
        values,
    }
}
