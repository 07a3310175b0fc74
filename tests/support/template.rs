//! What `infra/template.yaml` gives each function: the environment variables it
//! lists, so a test can build a handler with exactly the resources it has when
//! deployed (a resource the template forgets then fails the test, as it would fail
//! in AWS).

use std::collections::BTreeSet;
use std::path::PathBuf;

use cjaas_aws::settings::Settings;

use crate::Stack;

fn template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The names under `Environment: Variables:` of the resource `function` (e.g.
/// `IngestFunction`), and the template's `Globals` ones.
pub fn function_variables(function: &str) -> BTreeSet<String> {
    let text = template();
    let lines: Vec<&str> = text.lines().collect();
    let mut names = BTreeSet::new();
    for owner in ["Globals", function] {
        let start = lines
            .iter()
            .position(|l| {
                l.trim_end() == format!("  {owner}:") || l.trim_end() == format!("{owner}:")
            })
            .unwrap_or_else(|| panic!("{owner} is not in the template"));
        let owner_indent = indent(lines[start]);
        let body = lines[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > owner_indent);
        let mut variables_indent = None;
        for line in body {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match variables_indent {
                None if trimmed == "Variables:" => variables_indent = Some(indent(line)),
                Some(at) if indent(line) > at => {
                    if let Some((name, _)) = trimmed.split_once(':') {
                        names.insert(name.to_owned());
                    }
                }
                Some(_) => variables_indent = None,
                None => {}
            }
        }
    }
    names
}

impl Stack {
    /// The object graph `function` builds, on the resources the template gives it.
    pub fn wiring_of(&self, function: &str) -> cjaas_aws::wiring::AwsWiring {
        cjaas_aws::wiring::new(&self.sdk, self.settings_of(function))
    }

    /// This stack's settings, keeping only the resources the template gives
    /// `function`.
    pub fn settings_of(&self, function: &str) -> Settings {
        let given = function_variables(function);
        let keep = |name: &str, value: Option<String>| value.filter(|_| given.contains(name));
        let all = self.settings();
        Settings {
            tape_table: keep("TAPE_TABLE", all.tape_table),
            config_table: keep("CONFIG_TABLE", all.config_table),
            event_stream: keep("EVENT_STREAM", all.event_stream),
            dead_letter_bucket: keep("DEAD_LETTER_BUCKET", all.dead_letter_bucket),
            archive_bucket: keep("ARCHIVE_BUCKET", all.archive_bucket),
            event_bus: keep("EVENT_BUS", all.event_bus),
            signing_keys: all
                .signing_keys
                .filter(|_| given.contains("CJAAS_SIGNING_KEYS")),
            ..all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::function_variables;

    #[test]
    fn reads_a_functions_variables() {
        let ingest = function_variables("IngestFunction");
        for name in ["EVENT_STREAM", "CONFIG_TABLE", "CJAAS_SIGNING_KEYS"] {
            assert!(ingest.contains(name), "{ingest:?}");
        }
        assert!(!ingest.contains("TAPE_TABLE"), "{ingest:?}");
    }
}
