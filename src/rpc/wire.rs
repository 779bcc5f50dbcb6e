//! Where domain and runtime errors become wire errors: the one place each gets its code,
//! message, retry hint and (for a refused `connect`) close code.

use serde_json::json;

use crate::actors::config::WriteError;
use crate::actors::cron::CronError;
use crate::agents::{RunFailure, SubmitError};
use crate::auth::policy::AuthError;
use crate::lanes::LaneError;
use crate::protocol::{ErrorCode, ErrorShape, close};

/// A refused authentication: the error to answer and the close code.
#[derive(Debug, Clone)]
pub struct Denial {
    pub error: ErrorShape,
    pub close: u16,
}

/// An [`AuthError`] on the wire: codes, the `unauthorized: ` prefix, details and the close code.
pub fn to_wire(e: &AuthError) -> Denial {
    let message = e.to_string();
    let error = match e {
        AuthError::RateLimited { retry_after_ms } => {
            ErrorShape::new(ErrorCode::RateLimited, message).retry_after(*retry_after_ms)
        }
        AuthError::DeviceProof(_) => ErrorShape::invalid(message),
        AuthError::TokenMissing { .. }
        | AuthError::TokenMismatch
        | AuthError::PasswordMissing
        | AuthError::PasswordMismatch
        | AuthError::DeviceTokenMismatch
        | AuthError::TailscaleIdentityRequired { .. } => ErrorShape::invalid(format!("unauthorized: {message}")),
        AuthError::DeviceIdentityRequired => ErrorShape::new(ErrorCode::NotPaired, message),
        AuthError::PairingRequired { request_id, code } => {
            ErrorShape::new(ErrorCode::NotPaired, message).with_details(json!({"requestId": request_id, "code": code}))
        }
        AuthError::Registry(_) => ErrorShape::unavailable(message),
    };
    Denial { error, close: close::POLICY }
}

/// A lane's refusal: retryable, with its retry hint.
pub fn lane_error(e: &LaneError) -> ErrorShape {
    ErrorShape::unavailable(e.to_string()).retry_after(e.retry_after_ms())
}

/// A refused cron command: the store's trouble is the gateway's, the rest the request's.
pub fn cron_error(e: &CronError) -> ErrorShape {
    match e {
        CronError::StoreUnreadable(_) | CronError::StoreWrite(_) => ErrorShape::unavailable(e.to_string()),
        CronError::UnknownJob(_) | CronError::ConfigOwned(_) | CronError::Invalid(_) => {
            ErrorShape::invalid(e.to_string())
        }
    }
}

/// A config edit not written: the edit's or the file's fault is the request's, I/O the gateway's.
pub fn write_error(e: &WriteError) -> ErrorShape {
    match e {
        WriteError::Read { .. } | WriteError::Write { .. } => ErrorShape::unavailable(e.to_string()),
        WriteError::Edit(edit) => match edit.problem() {
            Some(p) => ErrorShape::invalid(e.to_string()).with_details(json!({"issues": [p]})),
            None => ErrorShape::invalid(e.to_string()),
        },
        WriteError::Invalid(problems) => ErrorShape::invalid(e.to_string()).with_details(json!({"issues": problems})),
    }
}

/// A failed run's error, beside its payload: a timeout has its own code.
pub fn run_error(e: &RunFailure) -> ErrorShape {
    match e {
        RunFailure::Failed(summary) => ErrorShape::new(ErrorCode::Unavailable, summary.clone()),
        RunFailure::TimedOut(summary) => ErrorShape::new(ErrorCode::AgentTimeout, summary.clone()),
    }
}

/// A run not admitted.
pub fn submit_error(e: &SubmitError) -> ErrorShape {
    match e {
        SubmitError::Lane(lane) => lane_error(lane),
        SubmitError::UnknownLane(_) => ErrorShape::invalid(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::AuthError;
    use serde_json::{Value, json};

    fn wire(e: AuthError) -> Value {
        let d = to_wire(&e);
        assert_eq!(d.close, close::POLICY);
        serde_json::to_value(d.error).unwrap()
    }

    #[test]
    fn refusals_keep_their_codes_and_messages_on_the_wire() {
        assert_eq!(
            wire(AuthError::TokenMissing { hint: "the gateway's --token flag".into() }),
            json!({"code": "INVALID_REQUEST", "message": "unauthorized: gateway token missing (provide gateway auth token; the gateway reads it from the gateway's --token flag; `openclaw dashboard` on the gateway host prints a tokenized URL)"})
        );
        assert_eq!(
            wire(AuthError::DeviceTokenMismatch)["message"],
            "unauthorized: device token mismatch (rotate/reissue device token)"
        );
        assert_eq!(
            wire(AuthError::DeviceProof(crate::auth::device::DeviceError::NonceMismatch)),
            json!({"code": "INVALID_REQUEST", "message": "device nonce mismatch"})
        );
        assert_eq!(
            wire(AuthError::PairingRequired { request_id: "r1".into(), code: "123456".into() }),
            json!({"code": "NOT_PAIRED", "message": "pairing required", "details": {"requestId": "r1", "code": "123456"}})
        );
        assert_eq!(
            wire(AuthError::RateLimited { retry_after_ms: 1500 }),
            json!({"code": "RATE_LIMITED", "message": "too many failed authentication attempts; retry in 2s", "retryable": true, "retryAfterMs": 1500})
        );
        assert_eq!(
            wire(AuthError::Registry("disk full".into())),
            json!({"code": "UNAVAILABLE", "message": "disk full"})
        );
    }

    #[test]
    fn a_full_lane_is_a_retryable_error_with_its_hint() {
        let e = lane_error(&LaneError::Full { lane: "main".into(), capacity: 2, retry_after_ms: 300 });
        assert_eq!(e.retryable, Some(true));
        assert_eq!(e.retry_after_ms, Some(300));
        let e = lane_error(&LaneError::Draining { lane: "main".into(), reason: "stopping".into() });
        assert_eq!((e.message.as_str(), e.retry_after_ms), ("lane main: stopping", Some(1500)));
    }

    #[test]
    fn a_failed_run_is_unavailable_and_a_timed_out_one_agent_timeout() {
        let e = run_error(&RunFailure::Failed("every model failed: x".into()));
        assert_eq!(e, ErrorShape::new(ErrorCode::Unavailable, "every model failed: x"));
        assert_eq!(run_error(&RunFailure::TimedOut("t".into())).code, ErrorCode::AgentTimeout);
    }
}
