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
    /// Row `position`, as a view: its `output` is read (back from the journal, when it is only
    /// there) each time a template reaches it. A filter that keeps rows (`selectattr`, `list`)
    /// keeps views, not outputs: at 100,000 rows, outputs built into every row put a step that
    /// read them all at 218 MB peak.
    fn row(self: &Arc<Self>, position: usize) -> Option<minijinja::Value> {
        (position < self.reports.len())
            .then(|| minijinja::Value::from_object(ResultRow { results: self.clone(), position }))
    }

    /// Row `position`'s output as templates read it, in place.
    fn output(&self, position: usize) -> minijinja::Value {
        let report = &self.reports[position];
        let output = match (self.unmasked.get(&position), &report.output) {
            (Some(unmasked), _) => unmasked.clone(),
            (None, Output::Held(value)) => (**value).clone(),
            // A journal that cannot be read back fails the template that reads the output,
            // with why; never a silent null.
            (None, Output::Journaled) => {
                match self.journal.as_ref().map(|j| j.output(&self.step, report.index, &report.key)) {
                    Some(Ok(Some(output))) => output,
                    Some(Err(error)) => return unreadable(error.to_string()),
                    None | Some(Ok(None)) => {
                        return unreadable(format!("item {} is not in the journal", report.key));
                    }
                }
            }
        };
        JsonData::at(&Arc::new(output), String::new())
    }
}

/// One row of `steps.<id>.results`: the item, its position, status, output and error.
#[derive(Debug)]
struct ResultRow {
    results: Arc<StepResults>,
    position: usize,
}

const ROW_FIELDS: &[&str] = &["item", "index", "status", "output", "error"];

impl Object for ResultRow {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let report = &self.results.reports[self.position];
        Some(match key.as_str()? {
            "item" => {
                report.index.map_or(minijinja::Value::from(()), |i| self.results.items.template_value(i))
            }
            "index" => report.index.map_or(minijinja::Value::from(()), minijinja::Value::from),
            "status" => minijinja::Value::from(report.status.map_or("not_started", ItemStatus::name)),
            "output" => self.results.output(self.position),
            "error" => report.error.as_deref().map_or(minijinja::Value::from(()), minijinja::Value::from),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(ROW_FIELDS)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(ROW_FIELDS.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(index: usize, status: ItemStatus, output: Output) -> ItemReport {
        ItemReport {
            index: Some(index),
            key: format!("k{index}"),
            label: format!("engi-{index}"),
            status: Some(status),
            attempts: 1,
            throttled: 0,
            retries: 0,
            output,
            error_code: None,
            error: (status == ItemStatus::Failed).then(|| "AccessDeniedException: no".to_string()),
            replayed: false,
        }
    }

    /// Rows are views: a row's status, item and error are there without its output, and the
    /// output is read only when a template reaches it (here it cannot be: the row says it is
    /// journaled, and there is no journal).
    #[test]
    fn a_row_reads_its_output_only_when_a_template_reaches_it() {
        let results = StepResults {
            step: "accept".into(),
            items: Items::owned(vec![
                serde_json::json!({"id": "engi-0"}),
                serde_json::json!({"id": "engi-1"}),
            ]),
            reports: Arc::new(vec![
                report(
                    0,
                    ItemStatus::Succeeded,
                    Output::Held(Box::new(serde_json::json!({"TaskId": "task-0"}))),
                ),
                report(1, ItemStatus::Failed, Output::Journaled),
            ]),
            unmasked: BTreeMap::new(),
            journal: None,
        };
        let env = crate::template::environment();
        let context = minijinja::context! { results => minijinja::Value::from_object(results) };
        let render = |template: &str| env.render_str(template, &context);
        assert_eq!(
            render("{{ results | selectattr('status', 'eq', 'failed') | map(attribute='item.id') | list }}")
                .unwrap(),
            "['engi-1']"
        );
        assert_eq!(
            render("{{ results[1].error }} {{ results[-1].index }}").unwrap(),
            "AccessDeniedException: no 1"
        );
        assert_eq!(render("{{ results[0].output.TaskId }}").unwrap(), "task-0");
        let row: serde_json::Value =
            serde_json::from_str(&render("{{ results[0] | tojson }}").unwrap()).unwrap();
        assert_eq!(
            row,
            serde_json::json!({"item": {"id": "engi-0"}, "index": 0, "status": "succeeded",
                               "output": {"TaskId": "task-0"}, "error": null})
        );
        let unreadable = render("{{ results[1].output }}").unwrap_err();
        assert!(format!("{unreadable:#}").contains("item k1 is not in the journal"), "{unreadable:#}");
    }
}
