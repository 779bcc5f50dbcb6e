//! Hostile clients (the attacks and their measurement are in `common::hostile`): each must
//! get the answer it deserves while a probe client stays served and memory under a ceiling.
//! The tests take turns: each measures latency, so none runs beside another.

mod common;

#[test]
fn slowloris_headers_are_cut_within_the_head_timeout() {
    let _t = common::hostile::turn();
    common::hostile::slowloris_headers_are_cut_within_the_head_timeout();
}

#[test]
fn ten_thousand_half_open_connections() {
    let _t = common::hostile::turn();
    common::hostile::ten_thousand_half_open_connections();
}

#[test]
fn oversized_headers_and_frames_are_refused_without_buffering() {
    let _t = common::hostile::turn();
    common::hostile::oversized_headers_and_frames_are_refused_without_buffering();
}

#[test]
fn wrong_token_floods_lock_out_and_hold() {
    let _t = common::hostile::turn();
    common::hostile::wrong_token_floods_lock_out_and_hold();
}

#[test]
fn invalid_utf8_and_bad_control_frames_close_with_their_code() {
    let _t = common::hostile::turn();
    common::hostile::invalid_utf8_and_bad_control_frames_close_with_their_code();
}

#[test]
fn a_ping_flood_is_closed_and_costs_nothing() {
    let _t = common::hostile::turn();
    common::hostile::a_ping_flood_is_closed_and_costs_nothing();
}

#[test]
fn permessage_deflate_is_not_negotiated() {
    let _t = common::hostile::turn();
    common::hostile::permessage_deflate_is_not_negotiated();
}

#[test]
fn a_client_that_never_reads_is_cut_and_freed() {
    let _t = common::hostile::turn();
    common::hostile::a_client_that_never_reads_is_cut_and_freed();
}

#[test]
fn connection_caps_refuse_with_a_reason_and_a_metric() {
    let _t = common::hostile::turn();
    common::hostile::connection_caps_refuse_with_a_reason_and_a_metric();
}
