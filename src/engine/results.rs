//! `steps.<id>.results` as later templates read it: a sequence whose rows are built when a
//! template reaches them. An item's output that is only in the journal is read back from it
//! then, so a step of 100,000 items costs memory for its items and outcomes, not its outputs.
//!
//! Only outputs that masking leaves unchanged are left in the journal alone (the journal holds
//! them masked); an output holding a secret (a job's artifact credentials) stays in memory
//! unmasked, as the steps after it need it.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value;

use std::collections::BTreeMap;

use super::{ItemReport, Output};
use crate::events::ItemStatus;
use crate::journal::RunRecorder;
use crate::template::JsonData;

/// A `for-each`'s items: a list inside JSON the run already holds (its vars, or the list
/// the step's template made), shared rather than copied.
#[derive(Debug, Clone)]
pub struct Items {
    root: Arc<Value>,
    /// A JSON Pointer to the list in `root`.
    pointer: String,
}

impl Items {
    pub fn owned(list: Vec<Value>) -> Self {
        Self { root: Arc::new(Value::Array(list)), pointer: String::new() }
    }

    /// The list at `pointer` in `root`, if there is a list there.
    pub fn shared(root: &Arc<Value>, pointer: &str) -> Option<Self> {
        root.pointer(pointer)?.as_array()?;
        Some(Self { root: root.clone(), pointer: pointer.to_string() })
    }

    /// The items a `for-each` template yields: shared when it names a list the run holds
    /// (`{{ vars.ids }}`), else the list it rendered.
    pub fn from_template(
        renderer: &crate::template::Renderer,
        template: &str,
        context: &minijinja::Value,
    ) -> Result<Self, String> {
        use crate::template::Evaluated;
        let value = match renderer.evaluate(template, context) {
            Ok(Evaluated::Value(value)) => {
                if let Some(items) = JsonData::viewed(&value).and_then(|(root, at)| Self::shared(root, at)) {
                    return Ok(items);
                }
                serde_json::to_value(&value).map_err(|e| format!("`for-each`: {e}"))?
            }
            Ok(Evaluated::Json(value)) => value,
            Err(e) => return Err(format!("`for-each`: {}", e.message)),
        };
        match value {
            Value::Array(items) => Ok(Self::owned(items)),
            other => Err(format!("`for-each` yielded {}, not a list", super::kind_of(&other))),
        }
    }

    pub fn list(&self) -> &[Value] {
        self.root.pointer(&self.pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// Item `index` as templates read it, in place.
    pub fn template_value(&self, index: usize) -> minijinja::Value {
        JsonData::at(&self.root, format!("{}/{index}", self.pointer))
    }
}

/// A step's results, in item order: each row is built from the item, its report, and its
/// output (held when masking changed it, else read back from the journal, or the report's
/// own copy in a run without one).
#[derive(Debug)]
pub struct StepResults {
    pub step: String,
    pub items: Items,
    pub reports: Arc<Vec<ItemReport>>,
    /// Unmasked outputs that masking changed, by position in `reports`: only these need a
    /// copy besides the masked one.
    pub unmasked: BTreeMap<usize, Value>,
    /// Where journaled outputs are read back from.
    pub journal: Option<Arc<RunRecorder>>,
}

impl StepResults {
    fn row(&self, position: usize) -> Option<minijinja::Value> {
        let report = self.reports.get(position)?;
        let output = match (self.unmasked.get(&position), &report.output) {
            (Some(unmasked), _) => unmasked.clone(),
            (None, Output::Held(value)) => (**value).clone(),
            // A journal that cannot be read back fails the template that reads the row, with
            // why; never a silent null.
            (None, Output::Journaled) => {
                match self.journal.as_ref().map(|j| j.output(&self.step, report.index, &report.key)) {
                    Some(Ok(Some(output))) => output,
                    Some(Err(error)) => return Some(unreadable(error.to_string())),
                    None | Some(Ok(None)) => {
                        return Some(unreadable(format!("item {} is not in the journal", report.key)));
                    }
                }
            }
        };
        Some(minijinja::context! {
            item => report.index.map_or(minijinja::Value::from(()), |i| self.items.template_value(i)),
            index => report.index,
            status => report.status.map_or("not_started", ItemStatus::name),
            output => minijinja::Value::from(minijinja::value::Serde(&output)),
            error => report.error.clone(),
        })
    }
}
impl Object for StepResults {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    /// minijinja has already turned a negative index into one from the start.
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.row(usize::try_from(key.as_i64()?).ok()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.reports.len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.reports.len())
    }
}

fn unreadable(why: String) -> minijinja::Value {
    minijinja::Value::from(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("cannot read an earlier step's output back from the journal: {why}"),
    ))
}
