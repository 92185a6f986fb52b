//! A worker's iteration display (`handoff run --every`): events are held back until the
//! iteration turns out to have work (an item starts, or something fails or stops), then the
//! real display is made and shown everything from the start. An iteration that polls and
//! finds nothing shows nothing, so a worker that polls every 30 seconds does not fill a log
//! with empty runs.

use std::sync::{Arc, Mutex};

use crate::events::{Event, ItemStatus, Reporter};

/// Holds a run's events until there is something to show.
/// Makes a display.
pub type MakeReporter = Arc<dyn Fn() -> Arc<dyn Reporter> + Send + Sync>;

pub struct Deferred {
    make: MakeReporter,
    state: Mutex<State>,
}

enum State {
    Holding(Vec<Event>),
    Showing(Arc<dyn Reporter>),
}

impl Deferred {
    pub fn new(make: MakeReporter) -> Self {
        Self { make, state: Mutex::new(State::Holding(Vec::new())) }
    }
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred").finish_non_exhaustive()
    }
}

/// Whether an event shows the iteration has something worth showing.
fn shows_work(event: &Event) -> bool {
    match event {
        Event::ItemStarted { .. } | Event::QuotaExhausted { .. } | Event::Stopping { .. } => true,
        Event::ItemFinished { status, .. } | Event::StepFinished { status, .. } => {
            *status == ItemStatus::Failed
        }
        _ => false,
    }
}

impl Reporter for Deferred {
    fn report(&self, event: &Event) {
        // Nothing a display shows; held, they would pile up in a long iteration.
        if event.is_internal() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            State::Showing(reporter) => reporter.report(event),
            State::Holding(held) => {
                held.push(event.clone());
                if shows_work(event) {
                    let reporter = (self.make)();
                    for event in held.drain(..) {
                        reporter.report(&event);
                    }
                    *state = State::Showing(reporter);
                }
            }
        }
    }

    fn finish(&self) {
        if let State::Showing(reporter) = &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            reporter.finish();
        }
    }

    fn flush(&self) {
        if let State::Showing(reporter) = &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            reporter.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Deferred;
    use crate::events::{Event, ItemStatus, Reporter};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl Reporter for Recorder {
        fn report(&self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    fn started() -> Event {
        Event::RunStarted { run_id: "r".into(), playbook: "p".into(), steps: 2 }
    }

    #[test]
    fn an_idle_run_shows_nothing_and_a_busy_one_shows_everything() {
        let made = Arc::new(Recorder::default());
        let handle = made.clone();
        let make: super::MakeReporter = Arc::new(move || -> Arc<dyn Reporter> { handle.clone() });
        let idle = Deferred::new(make.clone());
        idle.report(&started());
        idle.finish();
        assert!(made.0.lock().unwrap().is_empty());

        let busy = Deferred::new(make);
        busy.report(&started());
        busy.report(&Event::ItemStarted { step: "work".into(), item: 0 });
        busy.report(&Event::ItemFinished {
            step: "work".into(),
            item: Some(0),
            label: String::new(),
            status: ItemStatus::Succeeded,
            attempts: 1,
            error: None,
        });
        assert_eq!(made.0.lock().unwrap().len(), 3);
        assert_eq!(made.0.lock().unwrap()[0], started());
    }
}
