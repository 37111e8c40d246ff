//! Command-line arguments (clap). `--help` text lives here, next to the flags it describes.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "pilotlight",
    version,
    about = "Walks an incident responder through an AWS disaster-recovery runbook (failback first) and runs the AWS work under each step.",
    after_help = "Exit codes: 0 success, 1 a step failed or the run was aborted, 2 invalid input (runbook, --var, arguments).\n\
AWS: the default credential chain, AWS_PROFILE and AWS_REGION apply as for the AWS CLI; AWS_ENDPOINT_URL (or --endpoint-url) sends every call to one endpoint, such as a moto server; PILOTLIGHT_ATTEMPT_TIMEOUT (seconds, default 60) is how long one attempt of an AWS call may take."
)]
pub struct Cli {
    /// Where runs, the sandbox and logs are kept [default: the user's data directory]
    #[arg(long, global = true, env = "PILOTLIGHT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks; print every problem as FILE:LINE:COL: message
    Validate {
        #[arg(required = true, value_name = "RUNBOOK")]
        runbooks: Vec<PathBuf>,
    },
    /// Show the resolved steps, gates and actions without calling AWS
    Plan {
        runbook: PathBuf,
        #[command(flatten)]
        vars: Vars,
        /// Show which steps a run with this --phase takes and skips
        #[arg(long, value_enum, value_name = "PHASE")]
        phase: Option<PhaseArg>,
    },
    /// Run a runbook (or, with --resume, continue a run)
    Run(RunArgs),
    /// Continue a run from its journal where it stopped (with --team: take it over from the
    /// team table once its lease has expired or was given up)
    Resume {
        run_id: String,
        /// Secret inputs again (the journal never holds them)
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        mode: Mode,
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        team: Team,
    },
    /// Show every resource a runbook names, primary and recovery side by side, read live from AWS
    Status {
        runbook: PathBuf,
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        connect: Connect,
    },
    /// Check, before anything changes, that each failback step of a runbook can go through
    #[command(long_about = "Check, before anything changes, that each failback step of a runbook can go through \
(reads only). Per resource of each ec2/rds/aurora/dynamodb.failback step: both sides exist; the recovery snapshot \
can be copied and shared (an encrypted one into another region or account needs the step's kms_key_id, enabled; \
recovery in another account must not be on the AWS managed key; Oracle and SQL Server TDE need TDE in primary's \
option group); what the restore will take from recovery (a newer engine version, grown storage); Aurora global \
databases and member names; an Auto Scaling group and how it will be held; DynamoDB tables an import cannot rebuild \
(local indexes, replicas) and recovery's point-in-time recovery; snapshot copies in flight against the per-region \
quotas (EBS and RDS 20, Aurora 5); the account guard; and, per side, IAM's policy simulator on every call the \
runbook's generated permissions grant. Each check says pass, WARN or FAIL and why. Exits 1 when any check fails.")]
    Preflight {
        runbook: PathBuf,
        /// text for people (one line per check), json (the findings, for scripts)
        #[arg(long, value_enum, default_value_t = PreflightFormat::Text)]
        format: PreflightFormat,
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        connect: Connect,
    },
    /// List runs with their status
    Runs,
    /// Give up an unfinished run (journaled with your name and the reason): it cannot be resumed
    /// and no longer stops a new run of its runbook against the same environments
    Abandon {
        run_id: String,
        /// Why (journaled; required)
        #[arg(long)]
        reason: String,
        /// A team run: taken from this team table once its lease has expired or was given up
        #[command(flatten)]
        team: Team,
    },
    /// Put primary back as it was before a run's failbacks (before recovery is concluded)
    #[command(long_about = "Put primary back as it was before a run's failbacks, from the originals they kept \
(before recovery is concluded; journaled with your name and the reason; resumable: give it again after a kill or a \
failure).\n\n\
Failback steps are undone last first, each resource as its failback left it. RDS: the failed-back instance is \
renamed to <id>-failed-back-<run> (kept, deletion protection on) and the original takes its identifier back, \
deletion protection as it was. Aurora: the failed-back cluster's custom endpoints and instances are removed and it \
is renamed likewise (its storage keeps its data); the original takes its identifier back and its instances and \
custom endpoints are created in it again. DynamoDB: the failed-back table is backed up (kept), deleted, and \
primary's table restored under its name from the failback's safety backup with its configuration re-applied. EC2: \
the instance is stopped, the restored volumes detached (kept) and the originals attached back at their devices, then \
it is started. DNS is not changed: point it back at recovery if recovery is to serve.\n\n\
The run then ends as `undone` (not resumable; it no longer stops a new run of its runbook). Refused for a dry run, \
an abandoned run, a run whose recovery was concluded, and a failback step cut off mid-attempt (resume it first).")]
    Undo {
        run_id: String,
        /// Why (journaled; required)
        #[arg(long)]
        reason: String,
        /// Do not ask to type the run id to confirm
        #[arg(long)]
        yes: bool,
        /// Secret inputs again (the journal never holds them)
        #[command(flatten)]
        vars: Vars,
        #[command(flatten)]
        connect: Connect,
    },
    /// Write a run's after-action report from its journal (Markdown, or JSON with --format json)
    #[command(
        long_about = "Write a run's after-action report from its journal (read only; works for a finished, failed or \
running run).\n\n\
Sections: the run (runbook, who, where, dry run, start, finish, status); recovery objectives; the timeline of steps \
and sub-steps (times, attempts, waits, gate decisions); retained resources with the command that deletes each; \
configuration recorded and re-applied; AWS calls per resource.\n\n\
RTO: from the run's first disruptive AWS call (a stop, a detach, a rename, a delete, a DNS change; never a snapshot, \
a copy, the permissions stack's CreateStack or anything a rehearsal does) to the later of the DNS flip step \
(route53.upsert_record) succeeding and the first smoke test succeeding after it (an exec step, or a check.resource \
step on anything but a DNS record); not measured (with the reason) until both happened.\n\
RPO, per restored resource: its first mutating call in the failback step (or the step's start) minus the time of \
its recovery point.\n\
Both are compared with the runbook's `targets` (read from the run's own copy of the runbook)."
    )]
    Report {
        /// The run id, as `pilotlight runs` lists it
        run_id: String,
        /// markdown for people, json (the same facts, and more) for scripts
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
    },
    /// Print the JSON Schema of the runbook format (for editors with a YAML language server)
    Schema,
    /// Print the IAM a runbook's actions need, as a CloudFormation template made from the runbook
    #[command(long_about = "Print the IAM a runbook's actions need, as a CloudFormation template made from the \
runbook (JSON, which CloudFormation takes as YAML too): a role the given principal may assume, with one policy.\n\n\
Reads go to Resource \"*\" (Describe and List calls mostly cannot be scoped). Every call that changes or \
exposes something is scoped to what the runbook declares: instances by id or Name tag, RDS instances and clusters \
by identifier (and the <id>-pre-failback-* names their kept originals get), snapshots by the pl- names runs give \
them, Aurora members by identifiers starting with their cluster's, tables by name, the staging bucket, the DNS \
record names; KMS only through EC2, RDS and DynamoDB (kms:ViaService).\n\n\
--side primary is what the tool does through the primary environment, to install in primary's account; \
--side recovery what it does through the recovery environment (often another account); --side both, one role \
for both sides in one account.")]
    Permissions {
        runbook: PathBuf,
        /// Whose calls the template grants
        #[arg(long, value_enum, default_value_t = crate::permissions::Side::Primary)]
        side: crate::permissions::Side,
        #[command(flatten)]
        vars: Vars,
    },
    /// Manage the local AWS sandbox (a moto server on 127.0.0.1)
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Follow a run that another process drives (on this machine, or on any machine with --team):
    /// a read-only console over its journal, with live resource panels; it makes no change to AWS
    /// and offers no decision of the run's, but with --team its keys approve a gate waiting for
    /// approvers as a second person (y) and ask for a handover (H)
    Watch {
        run_id: String,
        /// One line per journal entry instead of the console, until the run succeeds, is
        /// abandoned or is undone (for scripts, and terminals without a console)
        #[arg(long)]
        headless: bool,
        /// Approve this step's gate as a second person once its driver has approved it and waits
        /// (a gate with `approvers`): written to the team table under the AWS identity of your
        /// own credentials, which must not be the driver's
        #[arg(long, value_name = "STEP", requires = "team")]
        approve: Option<String>,
        #[command(flatten)]
        connect: Connect,
        #[command(flatten)]
        team: Team,
    },
    /// Hand a team run to another responder: its driver stops at its next heartbeat (as on
    /// Ctrl-C; the run stays resumable) and gives the lease to NAME, who alone may resume it
    /// (`pilotlight resume RUN_ID --team TABLE`) until the lease's time is up
    Handover {
        run_id: String,
        /// Who takes it: their `user@host`, or their PILOTLIGHT_TEAM_NAME
        #[arg(long, value_name = "NAME")]
        to: String,
        #[command(flatten)]
        team: Team,
    },
    /// Team mode: make the shared run store (see `pilotlight team init --help`)
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// A game day on the sandbox: a scenario's world, pace and faults, its runbook, a debrief
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        long_about = "A game day on the sandbox. `pilotlight drill SCENARIO` (a file, or a bundled scenario's \
name: calm, no-fence, failed-copy-storm, roll-back, big-data, big-data-fast) starts the sandbox if need be, resets it to an empty world and seeds the \
scenario's world, starts its realism proxy afresh at the scenario's pace with the scenario's faults and limits, starts its writer if it \
has one (the application writing to recovery until the fence refuses it or DNS flips), prints the briefing, and runs the scenario's runbook against it (the console, or --headless). At the end it \
shows the debrief (a console screen after the console, Markdown in line mode; also `drill debrief RUN_ID`, and kept \
as debrief.md beside the run's journal).\n\n\
Unfinished runs of the same runbook against the sandbox are abandoned first (journaled: the world they acted on \
was reset).\n\n\
A trainer watches from a second terminal (`pilotlight watch RUN_ID --sandbox`) and injects faults with \
`pilotlight drill inject RUN_ID KIND`, journaled as the trainer's beside the run's journal."
    )]
    Drill(DrillArgs),
    /// Start and seed the sandbox, then open the console on the bundled failback runbook against it
    Demo {
        /// Run this drill scenario instead (as `pilotlight drill SCENARIO`)
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<String>,
        /// How fast AWS's modelled time runs in the sandbox: 60 (the default; with --scenario,
        /// the scenario's) plays the bundled failback's modelled hour and a half in about a
        /// minute and a half; `instant` skips every wait; 1 is real time
        #[arg(long, value_name = "PACE")]
        pace: Option<crate::sandbox::realism::Pace>,
        #[command(flatten)]
        mode: Mode,
    },
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: Option<DrillCommand>,
    /// The scenario: a YAML file, or the name of a bundled one
    #[arg(required = true)]
    pub scenario: Option<String>,
    /// Override the scenario's pace (`instant`, 1, 60, ...)
    #[arg(long, value_name = "PACE")]
    pub pace: Option<crate::sandbox::realism::Pace>,
    #[command(flatten)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Inject a fault into a running drill (the sandbox takes it at once; journaled as yours)
    Inject {
        run_id: String,
        /// The kind of fault
        #[arg(value_enum)]
        kind: crate::sandbox::realism::FaultKind,
        /// The call it hits, as service.Operation (ec2.CopySnapshot) [default: the kind's own]
        #[arg(long)]
        operation: Option<String>,
        /// Text the request must contain: an id, a name, a region
        #[arg(long)]
        resource: Option<String>,
        /// Matching calls let through first
        #[arg(long, default_value_t = 0)]
        after: usize,
        /// Matching calls spoiled [default: the kind's own]
        #[arg(long)]
        count: Option<usize>,
        /// delayed_answer: seconds late [default: 65]
        #[arg(long)]
        delay_s: Option<f64>,
    },
    /// A drill's debrief: RTO against the target, where the time went, decisions, data-loss
    /// window, faults met, what was left behind, and the previous drills of its scenario
    Debrief {
        run_id: String,
        /// markdown for people, json for scripts, console for a full-screen view with the trend
        /// as a bar chart
        #[arg(long, value_enum, default_value_t = DebriefFormat::Markdown)]
        format: DebriefFormat,
    },
    /// Print the JSON Schema of the scenario format
    Schema,
    /// List the bundled scenarios
    List,
}

/// A phase of a staged runbook (`--phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    Stage,
    CutOver,
}

impl From<PhaseArg> for crate::runbook::Phase {
    fn from(p: PhaseArg) -> Self {
        match p {
            PhaseArg::Stage => crate::runbook::Phase::Stage,
            PhaseArg::CutOver => crate::runbook::Phase::CutOver,
        }
    }
}

/// How `preflight` writes its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreflightFormat {
    Text,
    Json,
}

/// How `drill debrief` shows the debrief.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DebriefFormat {
    Markdown,
    Json,
    Console,
}

/// How `report` writes the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook file (not needed with --resume)
    #[arg(required_unless_present = "resume")]
    pub runbook: Option<PathBuf>,
    #[command(flatten)]
    pub vars: Vars,
    #[command(flatten)]
    pub mode: Mode,
    /// Make no mutating AWS call; say what each action would do
    #[arg(long)]
    pub dry_run: bool,
    /// Run one phase of a staged runbook: `stage` (the `phase: stage` steps and the steps before
    /// the last of them: nothing disruptive; repeat it to refresh what is staged) or `cut-over`
    /// (every step but the `phase: stage` ones, using what the stage run left) [default: every step]
    #[arg(long, value_enum, value_name = "PHASE", conflicts_with = "resume")]
    pub phase: Option<PhaseArg>,
    /// Continue this run instead of starting a new one (its inputs and dry-run mode are the run's
    /// own; give its secret inputs again with --var)
    #[arg(long, value_name = "RUN_ID", conflicts_with = "dry_run")]
    pub resume: Option<String>,
    #[command(flatten)]
    pub connect: Connect,
    #[command(flatten)]
    pub team: Team,
}

/// Team mode: a run shared through a DynamoDB table (`pilotlight team init` makes it).
#[derive(Debug, Args, Clone, Default)]
pub struct Team {
    /// Share the run through this team table: every journal entry is also written there under
    /// the run's lease, so watchers on other machines follow it and another machine can take
    /// it over (`resume --team`) once this one dies or gives it up
    #[arg(long, value_name = "TABLE")]
    pub team: Option<String>,
    /// The team table's region [default: the SDK's (AWS_REGION, the profile); us-east-1 in the
    /// sandbox]
    #[arg(long, value_name = "REGION", requires = "team")]
    pub team_region: Option<String>,
    /// Send the team table's calls to this endpoint [default: the sandbox's with --sandbox;
    /// else AWS's]
    #[arg(long, value_name = "URL", requires = "team")]
    pub team_endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct Vars {
    /// Set a runbook input (repeatable). Secret inputs are better given as
    /// PILOTLIGHT_VAR_<NAME> environment variables, in a --var-file, or at the prompt
    /// (asked without echo on a terminal when missing): the command line is visible to others
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Read inputs from a file of NAME=VALUE lines or a flat YAML mapping (repeatable;
    /// PILOTLIGHT_VAR_<NAME> overrides a file, --var overrides both)
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct Mode {
    /// Line mode for scripts and CI: one line per event, gates asked on standard input unless
    /// --auto-approve [default: the full-screen console, which needs a terminal]
    #[arg(long)]
    pub headless: bool,
    /// Pass every gate, including type-to-confirm ones; each is journaled as automatic
    #[arg(long)]
    pub auto_approve: bool,
    /// At most N steps of a group, and N resources of one failback step, at once [default: the
    /// runbook's max_parallel, else 4]
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<std::num::NonZeroUsize>,
}

#[derive(Debug, Args, Clone)]
pub struct Connect {
    /// Act against the local sandbox started by `pilotlight sandbox up` (fake credentials)
    #[arg(long, conflicts_with = "endpoint_url")]
    pub sandbox: bool,
    /// Send every AWS call to this endpoint, e.g. a moto server [default: $AWS_ENDPOINT_URL]
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Make the team store from the bundled CloudFormation template: a DynamoDB table (point-in-time
    /// recovery, deletion protection; kept when the stack is deleted) and, with --bucket, an S3
    /// bucket (versioned, public access blocked). Runs given `--team TABLE` share their journal and
    /// lease there. Put it in recovery's account and region or a tooling account's, not primary's:
    /// the store must answer while primary is down. Does nothing when the stack is there already,
    /// except give a store made without a bucket the one --bucket names
    Init {
        /// The table's name
        #[arg(long, value_name = "NAME")]
        table: String,
        /// Also make this S3 bucket: a team run's journal entries and runbook over 100 KiB go there
        /// (a DynamoDB item holds 400 KB); without one such a run stops
        #[arg(long, value_name = "NAME")]
        bucket: Option<String>,
        /// The region [default: the SDK's (AWS_REGION, the profile); us-east-1 in the sandbox]
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Install moto (pinned) if needed and start it on a free loopback port, behind the realism
    /// layer (AWS's rules, and AWS's time at --pace)
    Up {
        /// How fast AWS's modelled time runs: `instant` (moto's own speed), 1 (real time), 60 (a
        /// modelled minute per second); a running sandbox at another pace gets a new proxy
        #[arg(long, default_value = "instant", value_name = "PACE")]
        pace: crate::sandbox::realism::Pace,
        /// Add this many milliseconds to every AWS call (AWS's control plane answers in 50-300 ms,
        /// moto in a few): the benchmark of the tool's own time sets 100 (bench/README.md)
        #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u32).range(0..=10_000))]
        latency_ms: u32,
        /// The percent of a volume's or database's data changed since its previous snapshot: what
        /// an incremental snapshot or copy moves (a staged failback's copies in the window)
        #[arg(long, default_value_t = crate::sandbox::realism::process::DEFAULT_CHANGED_PERCENT, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(1..=100))]
        changed_percent: u32,
    },
    /// Serve the realism proxy in front of moto at --upstream (started by `sandbox up`)
    #[command(hide = true)]
    Realism {
        #[arg(long)]
        upstream: u16,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        pace: crate::sandbox::realism::Pace,
        #[arg(long, default_value_t = 0)]
        latency_ms: u32,
        #[arg(long, default_value_t = crate::sandbox::realism::process::DEFAULT_CHANGED_PERCENT)]
        changed_percent: u32,
        #[arg(long)]
        table_gib: Option<u32>,
        #[arg(long)]
        aurora_gib: Option<u32>,
    },
    /// Create the demo primary (us-east-1) and recovery (us-west-2) environments
    Seed {
        /// Seed this moto server instead of the tool's own sandbox
        #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
        endpoint_url: Option<String>,
        /// demo: both sides alike; hard: what a real incident leaves (gp3 under 400 GiB whose
        /// recovery grew, an upgraded Serverless v2 Aurora cluster, an Auto Scaling member)
        #[arg(long, value_enum, default_value_t)]
        variant: crate::sandbox::seed::Variant,
    },
    /// Say whether the sandbox is running, and where
    Status,
    /// Stop the sandbox by its recorded PID
    Down,
}
