//! The emulator driven in-process through the real AWS SDK for Rust clients (real HTTP on
//! 127.0.0.1, real SigV4), with the SDK's own retries off so that every answer shows.

use std::time::Duration;

use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionOwner, ActionTypeId, ExecutionDetails, FailureDetails, FailureType,
};
use aws_sdk_partnercentralselling::types::{InvitationStatus, ParticipantType, ReasonCode, TaskStatus};
use handoff::emulator::{
    DEFAULT_ACCESS_KEY, DEFAULT_CLIENT_TOKEN, DEFAULT_REGION, DEFAULT_SECRET_KEY, Emulator, EmulatorConfig,
    FaultSpec, QuotaSpec,
};
use serde_json::json;

pub(crate) fn sdk_config(url: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(DEFAULT_REGION))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(DEFAULT_ACCESS_KEY, secret, None, None, "test"),
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .build()
}

fn clients(emulator: &Emulator) -> (aws_sdk_codepipeline::Client, aws_sdk_partnercentralselling::Client) {
    let config = sdk_config(&emulator.endpoint_url(), DEFAULT_SECRET_KEY);
    (aws_sdk_codepipeline::Client::new(&config), aws_sdk_partnercentralselling::Client::new(&config))
}

fn config(generate: &str) -> EmulatorConfig {
    EmulatorConfig {
        generate: generate.parse().expect("generate spec"),
        quotas: QuotaSpec::off(),
        task_delay: Duration::from_millis(50),
        ..EmulatorConfig::default()
    }
}

fn action_type() -> ActionTypeId {
    ActionTypeId::builder()
        .category(ActionCategory::Deploy)
        .owner(ActionOwner::ThirdParty)
        .provider("AcmeDeploy")
        .version("1")
        .build()
        .expect("complete action type")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_from_queued_to_succeeded_and_a_continuation_queues_another() {
    let emulator = Emulator::start(config("jobs=2"), 0).await.expect("emulator starts");
    let (codepipeline, _) = clients(&emulator);
    let polled = codepipeline
        .poll_for_third_party_jobs()
        .action_type_id(action_type())
        .max_batch_size(10)
        .send()
        .await
        .unwrap();
    assert_eq!(polled.jobs().len(), 2);
    let job_id = polled.jobs()[0].job_id().unwrap().to_string();

    let details = codepipeline
        .get_third_party_job_details()
        .job_id(&job_id)
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await
        .unwrap();
    let details = details.job_details().unwrap();
    let nonce = details.nonce().unwrap().to_string();
    let credentials = details.data().unwrap().artifact_credentials().unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));

    let wrong = codepipeline
        .acknowledge_third_party_job()
        .job_id(&job_id)
        .nonce("0")
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await;
    let error = wrong.unwrap_err().into_service_error();
    assert!(error.is_invalid_nonce_exception(), "{error:?}");
    let acked = codepipeline
        .acknowledge_third_party_job()
        .job_id(&job_id)
        .nonce(&nonce)
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status().map(|s| s.as_str()), Some("InProgress"));

    codepipeline
        .put_third_party_job_success_result()
        .job_id(&job_id)
        .client_token(DEFAULT_CLIENT_TOKEN)
        .continuation_token("step-2")
        .execution_details(ExecutionDetails::builder().summary("half way").percent_complete(50).build())
        .send()
        .await
        .unwrap();
    let again = codepipeline
        .put_third_party_job_success_result()
        .job_id(&job_id)
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await;
    assert!(again.unwrap_err().into_service_error().is_invalid_job_state_exception());

    // The continuation is a new queued job that carries the token.
    let next = codepipeline
        .poll_for_third_party_jobs()
        .action_type_id(action_type())
        .max_batch_size(10)
        .send()
        .await
        .unwrap();
    assert_eq!(next.jobs().len(), 1);
    let next_id = next.jobs()[0].job_id().unwrap();
    let next_details = codepipeline
        .get_third_party_job_details()
        .job_id(next_id)
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(next_details.job_details().unwrap().data().unwrap().continuation_token(), Some("step-2"));

    let unknown = codepipeline
        .get_third_party_job_details()
        .job_id("nope")
        .client_token(DEFAULT_CLIENT_TOKEN)
        .send()
        .await;
    assert_eq!(unknown.unwrap_err().code(), Some("JobNotFoundException"));
    let failure = codepipeline
        .put_third_party_job_failure_result()
        .job_id(polled.jobs()[1].job_id().unwrap())
        .client_token(DEFAULT_CLIENT_TOKEN)
        .failure_details(
            FailureDetails::builder().r#type(FailureType::JobFailed).message("boom").build().unwrap(),
        )
        .send()
        .await;
    assert!(
        failure.unwrap_err().into_service_error().is_invalid_job_state_exception(),
        "not acknowledged yet"
    );

    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 1, "Dispatched": 2}));
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_page_accept_idempotently_and_tasks_finish() {
    let emulator = Emulator::start(config("invitations=45,expired=20%"), 0).await.expect("emulator starts");
    let (_, partner) = clients(&emulator);
    let pages: Vec<_> = partner
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(ParticipantType::Receiver)
        .max_results(10)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 5);
    let invitations: Vec<_> =
        pages.iter().flat_map(|p| p.engagement_invitation_summaries().to_vec()).collect();
    assert_eq!(invitations.len(), 45);
    let expired: Vec<_> =
        invitations.iter().filter(|i| i.status() == Some(&InvitationStatus::Expired)).collect();
    assert_eq!(expired.len(), 9);
    let pending = invitations.iter().find(|i| i.status() == Some(&InvitationStatus::Pending)).unwrap();

    let accept = |id: String, token: &'static str| {
        partner
            .start_engagement_by_accepting_invitation_task()
            .catalog("AWS")
            .identifier(id)
            .client_token(token)
            .send()
    };
    let first = accept(pending.id().to_string(), "t-1").await.unwrap();
    assert_eq!(first.task_status(), Some(&TaskStatus::InProgress));
    let retry = accept(pending.id().to_string(), "t-1").await.unwrap();
    assert_eq!(retry.task_id(), first.task_id());
    let conflict = accept(pending.id().to_string(), "t-2").await.unwrap_err().into_service_error();
    assert!(conflict.is_conflict_exception(), "{conflict:?}");
    let malformed = accept("engi-123".to_string(), "t-3").await.unwrap_err().into_service_error();
    assert!(malformed.is_validation_exception(), "{malformed:?}");
    assert!(malformed.message().unwrap().contains("at 'Identifier'"));
    let failing = accept(expired[0].id().to_string(), "t-4").await.unwrap();

    tokio::time::sleep(Duration::from_millis(100)).await;
    let tasks = partner
        .list_engagement_by_accepting_invitation_tasks()
        .catalog("AWS")
        .task_identifier(first.task_id().unwrap())
        .task_identifier(failing.task_id().unwrap())
        .send()
        .await
        .unwrap();
    let summaries = tasks.task_summaries();
    assert_eq!(summaries[0].task_status(), Some(&TaskStatus::Complete));
    assert!(summaries[0].opportunity_id().unwrap().starts_with('O'));
    assert_eq!(summaries[1].task_status(), Some(&TaskStatus::Failed));
    assert_eq!(summaries[1].reason_code(), Some(&ReasonCode::InvitationValidationFailed));

    let invitation =
        partner.get_engagement_invitation().catalog("AWS").identifier(pending.id()).send().await.unwrap();
    assert_eq!(invitation.status(), Some(&InvitationStatus::Accepted));
    assert_eq!(emulator.summary()["duplicates"]["invitations_with_several_tasks"], json!([]));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_with_invalid_signature() {
    let emulator = Emulator::start(config(""), 0).await.expect("emulator starts");
    let sdk = sdk_config(&emulator.endpoint_url(), "not-the-secret");
    let client = aws_sdk_partnercentralselling::Client::new(&sdk);
    let error = client
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(ParticipantType::Receiver)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InvalidSignatureException"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(403));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_quota_answers_throttling_exception() {
    let mut config = config("invitations=2");
    config.quotas = QuotaSpec::default();
    let emulator = Emulator::start(config, 0).await.expect("emulator starts");
    let (_, partner) = clients(&emulator);
    let list = partner
        .list_engagement_invitations()
        .catalog("AWS")
        .participant_type(ParticipantType::Receiver)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> =
        list.engagement_invitation_summaries().iter().map(|i| i.id().to_string()).collect();
    partner
        .start_engagement_by_accepting_invitation_task()
        .catalog("AWS")
        .identifier(&ids[0])
        .send()
        .await
        .unwrap();
    let throttled = partner
        .start_engagement_by_accepting_invitation_task()
        .catalog("AWS")
        .identifier(&ids[1])
        .send()
        .await;
    assert!(throttled.unwrap_err().into_service_error().is_throttling_exception());
    assert_eq!(emulator.summary()["throttled_by_quota"], 1);
    emulator.stop().await;
}

/// A dropped connection before the request is applied changes nothing; one dropped after
/// it is applied changes the state although the client saw only an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_differ_in_whether_the_request_was_applied() {
    for (fault, applied) in [("drop=1", false), ("drop_after=1", true)] {
        let mut config = config("invitations=1");
        config.faults = fault.parse::<FaultSpec>().unwrap();
        let emulator = Emulator::start(config, 0).await.expect("emulator starts");
        let (_, partner) = clients(&emulator);
        let id = emulator.state()["invitations"][0]["id"].as_str().unwrap().to_string();
        let result = partner
            .start_engagement_by_accepting_invitation_task()
            .catalog("AWS")
            .identifier(id)
            .send()
            .await;
        let error = result.unwrap_err();
        assert!(error.raw_response().is_none(), "{fault}: no answer expected, got {error:?}");
        let tasks = emulator.state()["tasks"].as_array().unwrap().len();
        assert_eq!(tasks == 1, applied, "{fault}");
        assert_eq!(emulator.summary()["faults"][fault.trim_end_matches("=1")], 1, "{fault}");
        emulator.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_throttling_and_errors_use_the_service_shapes() {
    for (fault, code, status) in
        [("throttle=1", "ThrottlingException", 400), ("error=1", "InternalServerException", 500)]
    {
        let mut config = config("");
        config.faults = fault.parse().unwrap();
        let emulator = Emulator::start(config, 0).await.expect("emulator starts");
        let (_, partner) = clients(&emulator);
        let error = partner
            .list_engagement_invitations()
            .catalog("AWS")
            .participant_type(ParticipantType::Receiver)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(code));
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(status));
        emulator.stop().await;
    }
}
