//! Input checks from the service models' constraints, answered with `ValidationException`
//! naming the field, in the words AWS uses ("Value 'x' at 'nonce' failed to satisfy
//! constraint: Member must have length less than or equal to 50").

use regex::Regex;
use serde_json::{Map, Value};

use super::protocol::ApiError;

/// A request body being read field by field.
#[derive(Debug)]
pub struct Input<'a> {
    fields: &'a Map<String, Value>,
    /// The dotted path of this structure inside the request, for messages.
    prefix: String,
}

fn fail(path: &str, value: &Value, constraint: &str) -> ApiError {
    let shown = match value {
        Value::Null => "null".to_string(),
        Value::String(s) => format!("'{s}'"),
        other => format!("'{other}'"),
    };
    ApiError::validation(
        path,
        format!("Value {shown} at '{path}' failed to satisfy constraint: {constraint}"),
    )
}

impl<'a> Input<'a> {
    pub fn new(body: &'a Value) -> Result<Self, ApiError> {
        let fields = body.as_object().ok_or_else(|| {
            ApiError::new(400, "SerializationException", "The request body must be a JSON object")
        })?;
        Ok(Self { fields, prefix: String::new() })
    }

    fn path(&self, field: &str) -> String {
        if self.prefix.is_empty() { field.to_string() } else { format!("{}.{field}", self.prefix) }
    }

    fn value(&self, field: &str, required: bool) -> Result<Option<&'a Value>, ApiError> {
        match self.fields.get(field) {
            None | Some(Value::Null) if required => {
                Err(fail(&self.path(field), &Value::Null, "Member must not be null"))
            }
            None | Some(Value::Null) => Ok(None),
            Some(value) => Ok(Some(value)),
        }
    }

    /// A string member with length limits (in characters).
    pub fn string(
        &self,
        field: &str,
        required: bool,
        min: usize,
        max: usize,
    ) -> Result<Option<&'a str>, ApiError> {
        let Some(value) = self.value(field, required)? else {
            return Ok(None);
        };
        let path = self.path(field);
        let text = value.as_str().ok_or_else(|| fail(&path, value, "Member must be a string"))?;
        let length = text.chars().count();
        if length < min {
            return Err(fail(
                &path,
                value,
                &format!("Member must have length greater than or equal to {min}"),
            ));
        }
        if length > max {
            return Err(fail(&path, value, &format!("Member must have length less than or equal to {max}")));
        }
        Ok(Some(text))
    }

    /// A string member that must match `pattern` (anchored) within length limits.
    pub fn matching(
        &self,
        field: &str,
        required: bool,
        (min, max): (usize, usize),
        pattern: &Regex,
    ) -> Result<Option<&'a str>, ApiError> {
        let text = self.string(field, required, min, max)?;
        if let Some(text) = text
            && !pattern.is_match(text)
        {
            let shown = pattern.as_str().trim_start_matches('^').trim_end_matches('$');
            return Err(fail(
                &self.path(field),
                &Value::String(text.into()),
                &format!("Member must satisfy regular expression pattern: {shown}"),
            ));
        }
        Ok(text)
    }

    /// A string member that must be one of `options`.
    pub fn one_of(&self, field: &str, required: bool, options: &[&str]) -> Result<Option<&'a str>, ApiError> {
        let text = self.string(field, required, 0, usize::MAX)?;
        if let Some(text) = text
            && !options.contains(&text)
        {
            return Err(fail(
                &self.path(field),
                &Value::String(text.into()),
                &format!("Member must satisfy enum value set: [{}]", options.join(", ")),
            ));
        }
        Ok(text)
    }

    pub fn integer(&self, field: &str, required: bool, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.value(field, required)? else {
            return Ok(None);
        };
        let path = self.path(field);
        let number = value.as_i64().ok_or_else(|| fail(&path, value, "Member must be an integer"))?;
        if number < min {
            return Err(fail(
                &path,
                value,
                &format!("Member must have value greater than or equal to {min}"),
            ));
        }
        if number > max {
            return Err(fail(&path, value, &format!("Member must have value less than or equal to {max}")));
        }
        Ok(Some(number))
    }

    /// A list member with length limits; its string items are checked by `item`.
    pub fn list(
        &self,
        field: &str,
        (min, max): (usize, usize),
        item: impl Fn(&str, &str) -> Result<(), ApiError>,
    ) -> Result<Option<Vec<&'a str>>, ApiError> {
        let Some(value) = self.value(field, false)? else {
            return Ok(None);
        };
        let path = self.path(field);
        let items = value.as_array().ok_or_else(|| fail(&path, value, "Member must be a list"))?;
        if items.len() < min {
            return Err(fail(
                &path,
                value,
                &format!("Member must have length greater than or equal to {min}"),
            ));
        }
        if items.len() > max {
            return Err(fail(&path, value, &format!("Member must have length less than or equal to {max}")));
        }
        let mut texts = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let item_path = format!("{path}.{}", i + 1);
            let text = v.as_str().ok_or_else(|| fail(&item_path, v, "Member must be a string"))?;
            item(&item_path, text)?;
            texts.push(text);
        }
        Ok(Some(texts))
    }

    /// A nested structure member.
    pub fn structure(&self, field: &str, required: bool) -> Result<Option<Input<'a>>, ApiError> {
        let Some(value) = self.value(field, required)? else {
            return Ok(None);
        };
        let path = self.path(field);
        let fields = value.as_object().ok_or_else(|| fail(&path, value, "Member must be a structure"))?;
        Ok(Some(Input { fields, prefix: path }))
    }

    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.fields.get(field)
    }
}

/// Checks a list item against an enum.
pub fn item_in<'o>(options: &'o [&'o str]) -> impl Fn(&str, &str) -> Result<(), ApiError> + 'o {
    move |path, text| {
        if options.contains(&text) {
            Ok(())
        } else {
            Err(fail(
                path,
                &Value::String(text.into()),
                &format!("Member must satisfy enum value set: [{}]", options.join(", ")),
            ))
        }
    }
}

/// Checks a list item against a pattern.
pub fn item_matching(pattern: &Regex) -> impl Fn(&str, &str) -> Result<(), ApiError> + '_ {
    move |path, text| {
        if pattern.is_match(text) {
            Ok(())
        } else {
            let shown = pattern.as_str().trim_start_matches('^').trim_end_matches('$');
            Err(fail(
                path,
                &Value::String(text.into()),
                &format!("Member must satisfy regular expression pattern: {shown}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Input;
    use serde_json::json;

    #[test]
    fn messages_name_the_field_and_the_constraint() {
        let body = json!({"nonce": "x".repeat(51), "outer": {"inner": 7}});
        let input = Input::new(&body).unwrap();
        let error = input.string("nonce", true, 1, 50).unwrap_err();
        assert!(error.message.contains(
            "at 'nonce' failed to satisfy constraint: Member must have length less than or equal to 50"
        ));
        let error = input.string("jobId", true, 1, 512).unwrap_err();
        assert!(error.message.contains("Value null at 'jobId'"), "{}", error.message);
        let outer = input.structure("outer", true).unwrap().unwrap();
        let error = outer.string("inner", true, 1, 5).unwrap_err();
        assert!(error.message.contains("at 'outer.inner'"), "{}", error.message);
    }
}
