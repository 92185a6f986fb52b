use std::time::Duration;

use super::{Format, Metrics};
use crate::actions::ActionKind;
use crate::events::{AttemptFailure, Counts, Event, ItemStatus, Reporter};

fn started(step: &str, action: ActionKind) -> Event {
    Event::StepStarted { step: step.into(), action, items: Some(2), concurrency: 2, resumed: 0, limit: None }
}

fn finished(step: &str, item: usize, status: ItemStatus) -> Event {
    Event::ItemFinished {
        step: step.into(),
        item: Some(item),
        label: format!("job-{item}"),
        status,
        attempts: 1,
        error: None,
    }
}

#[test]
fn events_become_counters_with_bounded_labels_only() {
    let metrics = Metrics::new(Duration::from_secs(60), Some(Duration::from_secs(1)));
    metrics.report(&Event::RunStarted { run_id: "r1".into(), playbook: "worker".into(), steps: 3 });
    metrics.report(&started("claim", ActionKind::Acknowledge));
    metrics.report(&started("done", ActionKind::ReportSuccess));
    metrics.report(&Event::Pace {
        step: "claim".into(),
        per_second: Some(2.5),
        limit_per_second: Some(10.0),
    });
    for item in 0..2 {
        metrics.report(&Event::ItemStarted { step: "claim".into(), item });
        metrics.report(&Event::Attempt {
            step: "claim".into(),
            action: ActionKind::Acknowledge,
            elapsed: Duration::from_millis(20),
            failure: None,
            bytes: None,
        });
        metrics.report(&finished("claim", item, ItemStatus::Succeeded));
    }
    metrics.report(&Event::Attempt {
        step: "done".into(),
        action: ActionKind::ReportSuccess,
        elapsed: Duration::from_millis(30),
        failure: Some(AttemptFailure {
            class: "throttling",
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
            access_refused: false,
        }),
        bytes: None,
    });
    metrics.report(&finished("done", 0, ItemStatus::Succeeded));
    metrics.report(&Event::RunFinished {
        run_id: "r1".into(),
        counts: Counts::default(),
        failed_steps: vec![],
        elapsed: Duration::from_secs(1),
        stopped: false,
    });
    let text = metrics.encode(Format::Prometheus);
    for line in [
        "handoff_jobs_claimed_total 2",
        "handoff_jobs_succeeded_total 1",
        "handoff_runs_total{status=\"succeeded\"} 1",
        "handoff_items_total{step=\"claim\",action=\"acknowledge\",status=\"succeeded\"} 2",
        "handoff_aws_calls_total{service=\"codepipeline\",operation=\"AcknowledgeThirdPartyJob\",outcome=\"ok\"} 2",
        "handoff_aws_calls_total{service=\"codepipeline\",operation=\"PutThirdPartyJobSuccessResult\",outcome=\"throttling\"} 1",
        "handoff_items_in_flight 0",
        "handoff_build_info{version=\"",
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "no `{line}` in\n{text}");
    }
    assert!(text.contains("handoff_rate_per_second{group=\"acknowledge\"} 2.5"), "{text}");
    // No run id, item label or message is a label value.
    for secretish in ["r1", "job-0", "Rate exceeded"] {
        assert!(!text.contains(secretish), "`{secretish}` in\n{text}");
    }
    assert!(metrics.health.readiness().ok, "an answered call makes the worker ready");
    let open = metrics.encode(Format::OpenMetrics);
    assert!(open.ends_with("# EOF\n"), "{open}");
}

#[test]
fn an_access_refusal_makes_the_worker_unready_until_a_call_is_answered() {
    let metrics = Metrics::new(Duration::from_secs(60), None);
    metrics.report(&started("poll", ActionKind::PollJobs));
    let attempt = |failure: Option<AttemptFailure>| Event::Attempt {
        step: "poll".into(),
        action: ActionKind::PollJobs,
        elapsed: Duration::from_millis(5),
        failure,
        bytes: None,
    };
    metrics.report(&attempt(Some(AttemptFailure {
        class: "client",
        code: Some("AccessDeniedException".into()),
        message: "User is not authorized to perform codepipeline:PollForThirdPartyJobs".into(),
        access_refused: true,
    })));
    let probe = metrics.health.readiness();
    assert!(!probe.ok);
    assert!(probe.body.contains("PollForThirdPartyJobs: AccessDeniedException"), "{}", probe.body);
    let last_poll = |metrics: &Metrics| {
        let text = metrics.encode(Format::Prometheus);
        text.lines()
            .find_map(|l| l.strip_prefix("handoff_last_successful_poll_timestamp_seconds "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(last_poll(&metrics), Some(0.0), "a refused poll is not a successful one");
    metrics.report(&attempt(None));
    assert!(metrics.health.readiness().ok);
    assert!(last_poll(&metrics).unwrap() > 1.7e9);
}
