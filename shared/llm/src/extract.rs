//! Reading a model's answer: strict JSON when the endpoint honoured the schema, otherwise
//! tolerant extraction from a ```json fence, from the outermost braces, or from a ```python
//! fence. Each refusal is a sentence the model can act on, because it is quoted back to it.

use serde_json::Value;

/// The JSON schema the model is asked to follow (strict mode: every property required, no
/// others).
pub fn answer_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "The complete Python module."},
            "entrypoint": {"type": "string", "description": "Name of the backtesting.Strategy subclass."},
            "dependencies": {"type": "array", "items": {"type": "string"}},
            "notes": {"type": "string"}
        },
        "required": ["code", "entrypoint", "dependencies", "notes"],
        "additionalProperties": false
    })
}

/// A usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The complete module.
    pub code: String,
    /// The strategy class, defined in `code`.
    pub entrypoint: String,
    /// Extra packages named by the model.
    pub dependencies: Vec<String>,
    /// The model's remarks.
    pub notes: String,
}

/// Reads an answer, or says why it cannot be used.
pub fn parse_answer(raw: &str) -> Result<Answer, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the answer was empty".into());
    }
    let mut json_error = match serde_json::from_str::<Value>(trimmed) {
        Ok(value) => return from_value(&value),
        Err(e) => (trimmed.starts_with('{') || trimmed.starts_with('[')).then(|| e.to_string()),
    };
    let blocks = fenced_blocks(trimmed);
    for (lang, body) in &blocks {
        if lang.is_empty() || lang == "json" {
            match serde_json::from_str::<Value>(body) {
                Ok(value) if value.is_object() => return from_value(&value),
                Ok(_) => {}
                Err(e) if lang == "json" => json_error = Some(e.to_string()),
                Err(_) => {}
            }
        }
    }
    if let (Some(start), Some(end)) = (trimmed.find('{'), trimmed.rfind('}'))
        && start < end
        && let Ok(value) = serde_json::from_str::<Value>(&trimmed[start..=end])
        && value.is_object()
    {
        return from_value(&value);
    }
    let python = blocks.iter().find(|(lang, body)| {
        matches!(lang.as_str(), "python" | "py" | "python3") || body.contains("(Strategy)")
    });
    if let Some((_, code)) = python {
        let entrypoint = strategy_class(code).ok_or("the Python block defines no Strategy subclass")?;
        return Ok(Answer { code: code.clone(), entrypoint, dependencies: Vec::new(), notes: String::new() });
    }
    Err(match json_error {
        Some(e) => format!("the answer is not valid JSON ({e})"),
        None => "the answer holds neither a JSON object nor a fenced Python block".into(),
    })
}

/// Checks a parsed JSON answer against the schema, and that the code defines the class.
fn from_value(value: &Value) -> Result<Answer, String> {
    let obj = value.as_object().ok_or("the answer must be a JSON object, not an array or a scalar")?;
    let text = |field: &str, required: bool| -> Result<String, String> {
        match obj.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) if !required => Ok(String::new()),
            None => Err(format!("the JSON object has no \"{field}\" field")),
            Some(_) => Err(format!("\"{field}\" must be a string")),
        }
    };
    let code = text("code", true)?;
    if code.trim().is_empty() {
        return Err("\"code\" is empty".into());
    }
    let entrypoint = text("entrypoint", true)?.trim().to_owned();
    if !is_identifier(&entrypoint) {
        return Err(format!("\"entrypoint\" must be a Python class name, got {entrypoint:?}"));
    }
    if !defines_class(&code, &entrypoint) {
        return Err(format!("\"code\" does not define class {entrypoint} named by \"entrypoint\""));
    }
    let dependencies = match obj.get("dependencies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or("\"dependencies\" must be an array of strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("\"dependencies\" must be an array of strings".into()),
    };
    Ok(Answer { code, entrypoint, dependencies, notes: text("notes", false)? })
}

/// Fenced blocks of Markdown: (language, body) in order; an unclosed fence runs to the end.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    for line in text.lines() {
        let stripped = line.trim_start();
        let ticks = stripped.chars().take_while(|c| *c == '`').count();
        match open.take() {
            None if ticks >= 3 => {
                open = Some((ticks, stripped[ticks..].trim().to_ascii_lowercase(), Vec::new()));
            }
            None => {}
            Some((n, lang, body)) if ticks >= n && stripped[ticks..].trim().is_empty() => {
                blocks.push((lang, body.join("\n")));
            }
            Some((n, lang, mut body)) => {
                body.push(line);
                open = Some((n, lang, body));
            }
        }
    }
    if let Some((_, lang, body)) = open {
        blocks.push((lang, body.join("\n")));
    }
    blocks
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn defines_class(code: &str, name: &str) -> bool {
    code.lines().any(|line| {
        line.trim_start()
            .strip_prefix("class ")
            .and_then(|rest| rest.trim_start().strip_prefix(name))
            .is_some_and(|rest| rest.trim_start().starts_with(['(', ':']))
    })
}

/// The first class whose bases mention `Strategy`, else the first class.
fn strategy_class(code: &str) -> Option<String> {
    let classes: Vec<(String, bool)> = code
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("class "))
        .filter_map(|rest| {
            let name: String =
                rest.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let bases = rest.split_once('(').map(|(_, b)| b.contains("Strategy")).unwrap_or(false);
            (!name.is_empty()).then_some((name, bases))
        })
        .collect();
    classes.iter().find(|(_, s)| *s).or(classes.first()).map(|(n, _)| n.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CODE: &str = "from backtesting import Strategy\n\n\
                        class Sma(Strategy):\n    def init(self): pass\n    def next(self): pass\n";

    #[test]
    fn strict_json_is_read() {
        let raw = serde_json::json!({"code": CODE, "entrypoint": "Sma", "dependencies": [], "notes": "n"});
        let a = parse_answer(&raw.to_string()).unwrap();
        assert_eq!((a.entrypoint.as_str(), a.notes.as_str()), ("Sma", "n"));
    }

    #[test]
    fn json_in_a_fence_or_in_prose_is_read() {
        let obj = serde_json::json!({"code": CODE, "entrypoint": "Sma"}).to_string();
        assert!(parse_answer(&format!("Here you go:\n```json\n{obj}\n```\nEnjoy")).is_ok());
        assert!(parse_answer(&format!("Sure! {obj} Hope it helps.")).is_ok());
    }

    #[test]
    fn a_python_fence_gives_code_and_entrypoint() {
        let a = parse_answer(&format!("The strategy:\n```python\n{CODE}```\n")).unwrap();
        assert_eq!(a.entrypoint, "Sma");
        assert!(a.code.contains("def next"));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert!(parse_answer("{\"code\": \"x\", ").unwrap_err().contains("not valid JSON"));
        let wrong_class = serde_json::json!({"code": CODE, "entrypoint": "Other"}).to_string();
        assert!(parse_answer(&wrong_class).unwrap_err().contains("does not define class Other"));
        let no_code = serde_json::json!({"entrypoint": "Sma"}).to_string();
        assert!(parse_answer(&no_code).unwrap_err().contains("no \"code\" field"));
        assert!(parse_answer("I cannot help with that.").is_err());
    }
}
