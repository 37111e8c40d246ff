//! Integration tests: one binary, modules by subject. Tests that need AWS talk to a real moto
//! server through the real SDK clients; each starts its own server and stops it by its PID.

mod aurora_failback;
mod aurora_rules;
mod aws_rules;
mod bundled_failback;
mod conclude;
mod conclude_rules;
mod console_tmux;
mod cross_account;
mod data_safety;
mod deferred_role;
mod deploy_resume;
mod dry_run;
mod durability;
mod dynamodb_failback;
mod ec2_failback;
mod ec2_rules;
mod engine;
mod engine_decisions;
mod environments;
mod fault_proxy;
mod groups;
mod headless_run;
mod loader;
mod lost_answers;
mod permissions;
mod rds_failback;
mod rds_rules;
mod report;
mod resume;
mod sandbox_cli;
mod schema;
mod secrets;
mod skeleton_kills;
mod support;
mod two_operators;
