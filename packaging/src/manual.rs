//! The hand-written sections of the man pages, in roff: what clap cannot
//! know (exit status, files, environment, examples, related pages).
//! [`crate::docs`] splices them into the pages it generates from the clap
//! definitions. Paths are the defaults (`--prefix /usr`, `--sysconfdir
//! /etc`, `--localstatedir /var`, `--libdir /usr/lib`); the options move them.

/// The hand-written sections of one tool's main page.
pub struct Sections {
    pub exit_status: &'static str,
    pub files: &'static str,
    pub environment: &'static str,
    /// Anything else the admin must know; may be empty.
    pub notes: &'static str,
    pub examples: &'static str,
    /// Pages beyond the tool's own subcommand pages.
    pub see_also: &'static [&'static str],
}

/// The sections of the main page of `tool`, if it has a page of its own.
pub fn sections(tool: &str) -> Option<&'static Sections> {
    match tool {
        "ganeti-layout" => Some(&LAYOUT),
        "ganeti-switch" => Some(&SWITCH),
        "ganeti-upgrade" => Some(&UPGRADE),
        "ganeti-packaging" => Some(&PACKAGING),
        _ => None,
    }
}

const LAYOUT: Sections = Sections {
    exit_status: r#".TP
.B 0
Done; for \fBverify\fR: the layout is sound.
.TP
.B 1
Refused because of what is on disk (conflicts, the active version; for
\fBadopt\fR: Ganeti daemons running, a node already versioned, something
changed since the adoption, nothing to undo, an adoption retired by the
removal of its version), failed,
or (\fBverify\fR) the layout has problems, one line each.
.TP
.B 2
Bad usage or input: arguments, version strings, spec file, stage; for
\fBadopt\fR, a flat install whose release cannot be told."#,
    files: r#".TP
.I /usr/lib/ganeti/VERSION/ \fRand\fP /usr/share/ganeti/VERSION/
The two trees of one version, each with its manifest
(\fI.ganeti\-layout\-manifest.json\fR, written last).
.TP
.I /usr/lib/ganeti/default \fRand\fP /usr/share/ganeti/default
Fixed links through \fI/etc/ganeti/lib\fR and \fI/etc/ganeti/share\fR, the
switch links that \fBganeti\-switch\fR(8) flips.
.TP
.I /usr/lib/ganeti/.ganeti\-layout.lock
Keeps two installs or removals apart.
.TP
.I /var/lib/ganeti\-layout/adopt.json
What \fBadopt\fR did (written before its first change): the backup and
every flat file moved there; \fBadopt \-\-undo\fR reads it. Kept,
\fIretired\fR, once the adopted version is removed.
.TP
.I /var/lib/ganeti\-layout/adopt\-backup\-EPOCH/
The flat install's files that \fBadopt\fR moved aside, each at its own path;
the version trees are laid out from it."#,
    environment: r#"None: every setting is an option."#,
    notes: r#"A node that runs a single\-version ("flat") Ganeti, its programs regular
files in \fI/usr/sbin\fR and its Python package the interpreter's (as RPM
clusters run), is converted in place by \fBganeti\-layout adopt\fR, with
its daemons stopped: its files move to the backup, and are laid out from
there as \fBinstall \-\-stage\fR lays out a flat build, as the running
release, activated. \fBadopt \-\-dry\-run\fR prints the plan, a second
\fBadopt\fR finishes one cut short by a crash, and \fBadopt \-\-undo\fR
puts the flat files back, refusing, with the path, what changed since
(inside the version trees too, by their manifests; Python bytecode caches
aside).
Removing the adopted version (\fBganeti\-layout remove\fR, once another
version is active) retires the adoption: it can no longer be undone, the
record says so, and the backup stays for the admin to delete by hand."#,
    examples: r#"What installing a build would change, then the install:
.PP
.nf
.RS
ganeti\-layout plan \-\-stage /tmp/stage \-\-release 3.1.0 \-\-dest /
ganeti\-layout install \-\-stage /tmp/stage \-\-release 3.1.0 \-\-dest /
.RE
.fi
.PP
Is this node's layout sound, and which versions does it have?
.PP
.nf
.RS
ganeti\-layout verify
ganeti\-layout list
.RE
.fi
.PP
A flat (single\-version) node into the versioned layout, and back:
.PP
.nf
.RS
/etc/init.d/ganeti stop
ganeti\-layout adopt \-\-dry\-run
ganeti\-layout adopt
ganeti\-layout adopt \-\-undo \-\-dry\-run
ganeti\-layout adopt \-\-undo
.RE
.fi"#,
    see_also: &[
        "ganeti-switch(8)",
        "ganeti-packaging(8)",
        "ganeti-upgrade(8)",
    ],
};

const SWITCH: Sections = Sections {
    exit_status: r#".TP
.B 0
Done; for \fBcheck\fR: the node is sound.
.TP
.B 1
Failed or refused: the version is not completely installed, a real file or
directory is where a switch link goes, Ganeti daemons run (without
\fB\-\-force\fR); for \fBcheck\fR: the node is not sound.
.TP
.B 2
Bad usage or input: arguments, version strings."#,
    files: r#".TP
.I /etc/ganeti/lib \fRand\fP /etc/ganeti/share
The switch links, flipped as a pair: each through a temporary link and
rename(2), then an fsync of the directory.
.TP
.I /etc/ganeti/.ganeti\-switch.journal
Written before the links change and removed after: while it exists a
switch is in progress (\fBcurrent\fR says so, \fBcheck\fR exits 1), and
\fBrepair\fR finishes it or, with \fB\-\-revert\fR, undoes it.
.TP
.I /var/lib/ganeti/ganeti\-upgrade.lock
The node lock, shared with \fBganeti\-upgrade\fR(8); it holds the pid of
the last holder.
.TP
.I /var/lib/ganeti/intent\-to\-upgrade
While it exists, the node is in a cluster upgrade."#,
    environment: r#"None that changes what it does (\fBGANETI_SWITCH_CRASH_AT\fR is a
test hook)."#,
    notes: "",
    examples: r#"Which version is active, and switch this node to 3.1:
.PP
.nf
.RS
ganeti\-switch current
ganeti\-switch to 3.1
.RE
.fi
.PP
After a crash in the middle of a switch:
.PP
.nf
.RS
ganeti\-switch check
ganeti\-switch repair            # or: ganeti\-switch repair \-\-revert
.RE
.fi
.PP
In a cluster, switch with \fBganeti\-upgrade \-\-to\fR, which switches every
node."#,
    see_also: &["ganeti-upgrade(8)", "ganeti-layout(8)"],
};

const UPGRADE: Sections = Sections {
    exit_status: r#".TP
.B 0
Done: upgraded, nothing pending, \fB\-\-abort\fR rolled back, or
\fB\-\-resume\fR finished an interrupted rollback (the cluster runs the old
version again, as the message says).
.TP
.B 1
Failed: the message says whether everything was rolled back (or nothing
had been changed yet), or that the upgrade (or its rollback) is still pending and \fB\-\-resume\fR continues
it; also: not root, the version missing on nodes, another run in progress,
\fB\-\-abort\fR after the configuration change.
.TP
.B 2
Bad usage or input: an unparsable or unsafe version, a release given
for its directory (\fB\-\-to 3.1.0\fR for \fI3.1\fR), incompatible
versions, a \fB\-\-root\fR that is not a directory.
.TP
.B 3
Upgraded, but \fBgnt\-cluster verify\fR reported errors.
.TP
.B 11
Not the master (with \fB\-\-resume\fR, a stale intent file was removed).
.TP
.B 12
An upgrade started by Ganeti's own \fBgnt\-cluster upgrade\fR is pending
(its intent file, without a journal of this tool): nothing was done;
\fBgnt\-cluster upgrade \-\-resume\fR finishes it (Debian's cron runs
it at boot). The boot-time unit counts this as a success."#,
    files: r#".TP
.I /var/lib/ganeti/ganeti\-upgrade.journal
The run's journal: its settings (the options that change what it does)
and every step started and done, each record fsynced. \fB\-\-resume\fR,
\fB\-\-abort\fR and \fB\-\-status\fR read it.
.TP
.I /var/lib/ganeti\-upgrade/pending
Where the journal of the pending upgrade is, whatever \fB\-\-localstatedir\fR
the run used; the boot-time resume starts when it exists.
.TP
.I /var/lib/ganeti/intent\-to\-upgrade
Ganeti's own intent file, in Ganeti's format, written after the journal and
removed before it. Its target field is tagged (\fI3.0.2,ganeti\-upgrade:3.1,PID\fR),
so that Ganeti's own \fBgnt\-cluster upgrade\fR keeps off an upgrade of
this tool: its \fB\-\-resume\fR (the @reboot line of Ganeti's cron file, or
an admin) finds no version in the target and exits 1 without acting, and
its \fB\-\-to\fR refuses because the target differs (from Ganeti 2.10.8,
2.11.6 and 2.12 on; older ones overwrite the file, and this tool stops
before its next step, naming the other process).
.TP
.I /var/lib/ganeti/ganeti\-upgrade.lock
The node lock, shared with \fBganeti\-switch\fR(8).
.TP
.I /var/backups/ganeti\-upgrade\-EPOCH.tar
The backup taken before the configuration changes (mode 0600): the data
directory without the job archive, \fI/etc/ganeti\fR,
\fI/etc/default/ganeti\fR and \fI/root/.ssh\fR (never the intent file
or the journal). The newest \fBKEEP_BACKUPS\fR (5) are kept; each run says
which older ones it removes.
.TP
.I /var/log/ganeti/commands.log
Every command run on every node, with its exit code, duration and
standard error, beside Ganeti's own lines and in their format and local
time (tagged \fIUTC\fR where the local zone cannot be read).
.TP
.I /etc/default/ganeti\-upgrade
\fBKEEP_BACKUPS\fR=\fIN\fR (how many backups to keep; 0: all),
\fBRESUME_AT_BOOT\fR=\fIyes\fR|\fIno\fR and \fBEXTRA_ARGS\fR, for the
boot-time \fBganeti\-upgrade \-\-resume\fR (the systemd unit
\fIganeti\-upgrade\-resume.service\fR, or an @reboot job in
\fI/etc/cron.d/ganeti\-upgrade\-toolkit\fR without systemd). The unit starts
before cron, which runs Ganeti's own @reboot \fBgnt\-cluster upgrade
\-\-resume\fR; that line stays, and does nothing to an upgrade of this
tool (see the intent file above)."#,
    environment: r#".TP
.B GANETI_UPGRADE_NO_LUXI
\fB1\fR: never talk LUXI to luxid; use \fBgnt\-filter\fR, \fBgnt\-job\fR
and \fBgnt\-cluster\fR for the job filter, job queries, drain flag and
watcher pause (the way taken anyway when luxid cannot be reached).
.PP
\fBGANETI_UPGRADE_HOSTNAME\fR, \fBGANETI_UPGRADE_POLL_INTERVAL\fR,
\fBGANETI_UPGRADE_CRASH_AT\fR, \fBGANETI_UPGRADE_CRASH_IN\fR and
\fBGANETI_UPGRADE_WAIT_AT\fR are for tests."#,
    notes: r#"Before the configuration change, a failure or a signal (SIGTERM, SIGINT,
or SIGHUP when the admin's ssh session drops) rolls back every step that
had started, in reverse; after it, signals are ignored and a failure stops
with the upgrade still pending, for \fB\-\-resume\fR.
\fB\-\-abort\fR rolls back a pending upgrade that has not reached the
configuration change; after that point it is refused.
.PP
Where the procedure departs from the design's letter (Ganeti's
\fIdesign\-upgrade\fR, "Automatized Upgrade Procedure"): the design's first
daemon round starts all daemons; this tool's (step \fBstart\-daemons\fR)
starts only what \fBgnt\-cluster redist\-conf\fR uses:
\fBdaemon\-util start ganeti\-noded\fR on every online node, then
\fBganeti\-wconfd\fR and \fBganeti\-luxid\fR on the master. The second
round (\fBrestart\-daemons\fR) stops and starts every daemon everywhere, as
the design's. Its outcome holds (redist\-conf finds what it needs, and
every daemon afterwards runs a process started after the redistribution)
with about a third of the first round's work while new jobs are held;
RAPI, confd and mond come back with the second round. Ganeti only warns
when redist\-conf's copies do not reach a node; this tool starts that
node's noded and redistributes again, and fails the step for a node still
missed. The design's \fBensure\-dirs \-\-full\-run\fR before the daemons
start is split in two: plain \fBensure\-dirs\fR there (step
\fBensure\-dirs\fR, as \fBgnt\-cluster upgrade\fR and every
\fBdaemon\-util start\fR run it), and the full run, whose only addition is
a walk over every file of the job archive, once jobs run again and the
watcher is back, on the master candidates, which hold the archive (step
\fBensure\-job\-archive\fR): no daemon
needs the archive to start or to run jobs, and on a busy master candidate
it holds tens of thousands of files.
.PP
Progress output is best-effort: with a closed pipe or terminal the run goes
on, and \fIcommands.log\fR keeps its record.
.SS "JSON output (\-\-json)"
One JSON object per line. Every object has \fB"format": 1\fR (a later
format that changes a field's meaning gets a new number; new fields may
appear in format 1) and, except the \fB\-\-status\fR document, an
\fB"event"\fR field. Times are RFC 3339 in UTC (\fI2026\-11\-30T08:22:02Z\fR),
durations seconds as numbers, step ids as in the text output.
.TP
.B step\-start
\fBstep\fR, \fBindex\fR and \fBtotal\fR (the step is index of total),
\fBheld_seconds\fR (how long new jobs have been held when the step
starts, from stop\-new\-work until resume\-work; absent outside that
span), \fBtime\fR.
.TP
.B node
A node's result in the step, the moment it arrives: \fBstep\fR (null
outside a step), \fBnode\fR, \fBcommand\fR (the command line run, as
text), \fBok\fR, \fBcode\fR (exit status: 255 when ssh could not reach
the node, as ssh reports it; null when the command was killed at its
timeout), \fBerror\fR (the last line the command or ssh wrote on
standard error when it failed, else null), \fBtime\fR.
.TP
.B step\-end
\fBstep\fR, \fBok\fR, \fBdetail\fR (why it failed; empty when ok),
\fBtime\fR.
.TP
.B message
\fBmessage\fR (what the text output says between the step lines: waits,
nodes still running, rollbacks, skipped nodes), \fBtime\fR.
.TP
.B report
At the end of a run: \fBseconds\fR (the whole run), \fBend\fR (what the
report's head line says), \fBheld_seconds\fR (when the run let new jobs
run again: how long they were held, from the first run's
stop\-new\-work; absent otherwise), \fBsteps\fR (a list of \fBstep\fR,
\fBseconds\fR and \fBheld\fR: whether it ran while new jobs were held,
the hold window from stop\-new\-work to resume\-work).
.TP
.B preflight\fR, \fBplan\-step
From \fB\-\-dry\-run\fR: \fBchecks\fR: \fBtarget\fR, \fBmaster\fR,
\fBnodes\fR (every online node, the master last, each with \fBnode\fR,
\fBstate\fR: \fBready\fR, \fBunreachable\fR, \fBrefused\fR,
\fBhost\-key\-changed\fR, \fBno\-ganeti\fR, \fBtarget\-incomplete\fR,
\fBway\-back\-closed\fR (the version the cluster runs could not be
switched back to there), \fBtarget\-does\-not\-run\fR (installed, but an
interpreter, a Python module or a shared library it needs is missing
there) or \fBfailed\fR; \fBswitch_version\fR, \fBerror\fR (the line ssh or the
node printed) and \fBfix\fR, null when ready), \fBoffline\fR,
\fBjobs\fR (\fBrunning\fR and \fBqueued\fR, or null when the queue could
not be asked), \fBdrained\fR, \fBwatcher_paused_until\fR (epoch
seconds, or null), \fBfilters\fR, \fBbackup_bytes\fR, \fBbackup_free\fR
and \fBrefusals\fR (what the run would refuse, each with its fix). Then
per step \fBindex\fR, \fBstep\fR, \fBtitle\fR, \fBcommands\fR (each
\fBon\fR: \fBmaster\fR, \fBall\-online\fR (the master last),
\fBall\-online\-at\-once\fR (the master at the same time) or
\fBonline\-candidates\fR (the online master candidates, the master last), \fBnodes\fR, \fBargv\fR:
the command line as a list of arguments, or null for what is not one
command, and \fBtext\fR, as the text output shows it) and
\fBpoint_of_no_return\fR (true on the configuration change). A dry run
that the run's own preconditions refuse (not the master, a pending
upgrade of Ganeti's own, another run holding the lock, versions) prints
no preflight: its end event carries the run's own error.
.TP
.B end
The last line: \fBexit_code\fR, and \fBresult\fR: \fBupgraded\fR (with
\fBto\fR and \fBleft\fR, the nodes left out, each with \fBnode\fR,
\fBwhy\fR (offline or skipped), \fBon_node\fR and \fBon_master\fR (the
command lines, each a list of arguments, that bring it up to date there),
\fBnothing\-pending\fR, \fBrollback\-finished\fR or \fBaborted\fR (with
\fBfrom\fR), \fBshown\fR (\fB\-\-dry\-run\fR), \fBverify\-errors\fR (exit
3: upgraded; \fBmessage\fR, \fBleft\fR as above, \fBpending\fR),
\fBrolled\-back\fR (a failure or a signal before the configuration
change, every step undone: \fBmessage\fR, \fBfrom\fR, the version the
cluster runs again, \fBpending\fR), or \fBerror\fR (with \fBmessage\fR
and \fBpending\fR: whether a journal is left for \fB\-\-resume\fR).
\fB\-\-status\fR prints no end event.
.PP
\fB\-\-status \-\-json\fR prints one document: \fBactive\fR (this node's
version), \fBintent\fR (the intent file's \fBrunning\fR, \fBtarget\fR as
written, \fIganeti\-upgrade:3.1\fR for ours, and \fBpid\fR; or null), \fBjournal\fR (null, or \fBid\fR, \fBfrom\fR,
\fBfrom_release\fR, \fBto\fR, \fBtransition\fR, \fBstarted_at\fR,
\fBrolling_back\fR, \fBrolled_back\fR, \fBheld_since\fR (since when new
jobs are held, or absent), \fBlast_failure\fR, \fBsteps\fR
(each \fBstep\fR with \fBstate\fR done, started or pending),
\fBcurrent_step\fR (\fBstep\fR, and \fBnodes\fR, each \fBnode\fR with
\fBstate\fR failed, skipped, offline or no\-failure and \fBdetail\fR),
\fBskipped_nodes\fR, \fBsettings\fR (the options the upgrade was started
with, which a bare \fB\-\-resume\fR uses again: \fBprefix\fR,
\fBsysconfdir\fR, \fBlibdir\fR, \fBlocalstatedir\fR,
\fBswitch_command\fR, \fBssh_command\fR (a list), \fBparallel\fR,
\fBverify_ignore\fR, \fBqueue_timeout\fR, \fBcommand_timeout\fR,
\fBmax_hold\fR (seconds, 0: no limit); null for
older journals), \fBfacts\fR: what the run learned, as the journal keeps
it, times in epoch seconds, \fBbackup\fR the backup's path), \fBlock_holder\fR (only while the lock
is held), \fBoffline_nodes\fR, \fBorphan_filters\fR."#,
    examples: r#"Check the plan, upgrade, and follow a pending upgrade:
.PP
.nf
.RS
ganeti\-upgrade \-\-to 3.1 \-\-dry\-run
ganeti\-upgrade \-\-to 3.1
ganeti\-upgrade \-\-status
.RE
.fi
.PP
After a crash, a reboot or a failure past the configuration change (the
options the upgrade was started with are used again):
.PP
.nf
.RS
ganeti\-upgrade \-\-resume
.RE
.fi
.PP
Abandon an upgrade that has not reached the configuration change:
.PP
.nf
.RS
ganeti\-upgrade \-\-abort
.RE
.fi
.PP
Keep an interrupted upgrade for the admin instead of resuming it at boot:
set \fBRESUME_AT_BOOT=no\fR in \fI/etc/default/ganeti\-upgrade\fR."#,
    see_also: &[
        "ganeti-switch(8)",
        "ganeti-layout(8)",
        "gnt-cluster(8)",
        "systemd.unit(5)",
    ],
};

const PACKAGING: Sections = Sections {
    exit_status: r#".TP
.B 0
Done, including: nothing to do, or links deliberately left alone.
.TP
.B 1
Refused or failed: \fBprerm\fR refuses to remove the active version, a real
file is where a switch link goes, a layout conflict, an I/O error.
.TP
.B 2
Bad usage or input: arguments, version strings, stage, spec, package
names."#,
    files: r#".TP
.I /etc/ganeti/lib \fRand\fP /etc/ganeti/share
The switch links that \fBpostinst\fR creates or repairs (only outside a
cluster, or when they are broken) and \fBpostrm\fR drops when no version is
left.
.TP
.I /usr/share/ganeti\-upgrade\-toolkit/maintscripts/
The maintainer-script snippets that \fBsnippet\fR fills in.
.TP
.I /usr/share/doc/ganeti\-upgrade\-toolkit/README.packaging.md
The packager's guide."#,
    environment: r#".TP
.B DPKG_ROOT
Set by dpkg for maintainer scripts; the default of \fB\-\-root\fR when not
empty.
.TP
.B GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL
\fByes\fR: \fBprerm remove\fR goes on although the version being removed is
the active one (its links dangle until another version is activated)."#,
    notes: "",
    examples: r#"In a versioned package's \fIdebian/rules\fR, split one build into the link
farm package and the version-tree package:
.PP
.nf
.RS
ganeti\-packaging debian\-install \-\-stage debian/stage \-\-release 3.1.0 \e
    \-\-destdir debian/tmp \-\-farm\-package ganeti \-\-trees\-package ganeti\-3.1
.RE
.fi
.PP
The maintainer scripts of \fIganeti\-3.1\fR:
.PP
.nf
.RS
ganeti\-packaging snippet postinst 3.1 > debian/ganeti\-3.1.postinst
.RE
.fi"#,
    see_also: &["ganeti-layout(8)", "ganeti-switch(8)", "dh_installdeb(1)"],
};
