/// `--help` text for every command.
enum Help {
    static let global = """
    ferry — declarative plan-and-apply for database imports and copies

    Usage: ferry <command> [options]

    Commands:
      init [DIR]                scaffold plans/ and a .gitignore for .ferry/
      validate [PATH]           parse and check the plan, no connections
      fmt [--check] [PATH...]   canonical formatting of plan files
      plan [PATH]               show what apply would change
      show FILE                 show a saved plan
      graph [PATH|FILE]         render the action graph (dot, mermaid, json)
      apply [PATH|FILE]         carry out the plan, with rollback on failure
      runs                      past and current runs, newest first
      status [RUN]              one run: actions, progress, checkpoints
      recover                   roll back an interrupted run
      rollback RUN              restore the checkpoints a committed run kept
      backup NAME               take an on-demand backup set
      state list|show|rm|keep   inspect and edit the state
      unlock [LOCK_ID]          release a stale state lock (--claims: a dead run's claims)
      explain CODE              describe an error code
      schema                    print the plan format's JSON Schema
      completion bash|zsh|fish  print a shell completion script
      version                   print the version

    Global options:
      --state DIR|URL state directory (default .ferry), or postgres://user@host:port/db?schema=ferry
      --no-color      no colour (also NO_COLOR=1)
      -v              more detail on errors
      -h, --help      help for any command

    PATH is a plan file or a directory of *.json plan files (default: plans/).
    """

    static let commands: [String: String] = [
        "init": """
        Usage: ferry init [DIR]

        Creates DIR/plans/ with a starter plan (SQLite, nothing outside DIR), DIR/plan.schema.json
        (the plan format's JSON Schema, which the plan names in "$schema" for editors) and adds
        .ferry/ to DIR/.gitignore. DIR defaults to the working directory. Existing files are left
        alone.
        """,
        "validate": """
        Usage: ferry validate [PATH] [--allow-outside PATH]...

        Parses and checks the plan without connecting to any instance. Every problem is reported
        at once, with its code, file, line, column and JSON path.
        Exit: 0 valid, 1 errors.
        """,
        "fmt": """
        Usage: ferry fmt [--check] [PATH...]

        Rewrites plan files in the canonical format (2-space indent, fields in a fixed order, names
        in your order) so that reviews show only meaningful diffs.
          --check   change nothing; list files that need formatting
        Exit: 0 formatted, 1 error, 2 files need formatting (with --check).
        """,
        "plan": """
        Usage: ferry plan [PATH] [options]

        Reads the instances' current state, diffs it against the plan and the state file, and
        shows the changes, the ordered action graph and a summary.
          --out FILE               save the plan for `ferry apply FILE`
          --target ADDR            only this resource and what it depends on (repeatable)
          --exclude ADDR           leave out this resource and what depends on it (repeatable)
          --replace ADDR           rebuild this resource even if unchanged (repeatable)
          --refresh-only           report what changed outside Ferry (drift); propose nothing
          --format text|json|markdown
          --detailed-exitcode      exit 2 when there are changes (with --refresh-only: drift)
          --allow-outside PATH     allow file sources under PATH outside the project
        Exit: 0 no changes (or changes without --detailed-exitcode), 1 error, 2 changes (or drift).
        """,
        "show": """
        Usage: ferry show FILE [--format text|json|markdown]

        Shows a plan saved with `ferry plan --out FILE`.
        """,
        "graph": """
        Usage: ferry graph [PATH|FILE] [--format dot|mermaid|json] [--target ADDR]... [--exclude ADDR]...
                           [--replace ADDR]...

        Renders the action graph of a plan (or of a saved plan FILE). Default format: dot.
        """,
        "apply": """
        Usage: ferry apply [PATH|FILE] [options]

        Carries out the plan. Each target is built as a shadow beside the original, verified and
        swapped in; if anything fails, every change of the run is rolled back, newest first.
        With a saved plan FILE, the plan is not shown again; it is refused with PlanStale if
        anything it was built on changed.
          --auto-approve           do not ask (required without a terminal)
          --parallelism N          steps at once (default: twice the cores)
          --target ADDR            only this resource and its dependencies (repeatable)
          --exclude ADDR           leave out this resource and what depends on it (repeatable)
          --replace ADDR           rebuild this resource (repeatable)
          --keep-going             keep independent resources that succeeded
          --format text|json       json: JSON Lines events on stdout (one object a line,
                                   the last the outcome), plan and progress text on stderr
          --allow-outside PATH     allow file sources under PATH outside the project
          --lock-timeout DURATION  wait up to DURATION (30s, 2m) while another run holds the
                                   state lock, saying who holds it (default 0: StateLocked at once)
        Exit: 0 applied or nothing to do, 1 refused before any change, 3 failed and rolled back
        completely, 4 failed and rollback incomplete (see `ferry status`).
        """,
        "runs": """
        Usage: ferry runs

        Lists runs, newest first: id, start time, outcome, resources, bytes, duration.
        """,
        "status": """
        Usage: ferry status [RUN] [PATH]

        Shows one run (default: the newest): each step's state and progress, the instances it
        holds (Migrating source, Importing target), checkpoints, and what needs a hand.
        Checkpoints are looked for on the instances of the plan at PATH (default: plans/); a
        path given alone shows the newest run.
        """,
        "recover": """
        Usage: ferry recover [PATH] [--force] [--keep-later-writes | --discard-later-writes]
                             [--abandon INSTANCE]...

        Finishes interrupted runs: a run that had committed gets its cleanup (pending clean-up, a
        half-removed backup set), an interrupted `ferry rollback` is carried to its end, any other
        run is rolled back from its journal, leaving no shadow, account, set or claim it made.
        A run whose process still runs on this host (its lock removed by `ferry unlock --force`)
        is refused (StateLocked) unless --force.
          --lock-timeout DURATION  wait up to DURATION for the state lock (default 0: at once)
          --force                  recover even a run whose process still runs on this host
          --keep-later-writes      finish an interrupted `ferry rollback`, leaving targets written
                                   since it began as they are (their checkpoints beside them),
                                   and targets whose checkpoints someone dropped; or an
                                   interrupted run whose claims `ferry unlock --claims` released,
                                   leaving its targets as they are
          --discard-later-writes   finish an interrupted `ferry rollback` over targets written
                                   since it began (their writes are discarded); or undo an
                                   interrupted run's swaps though its claims were released
          --abandon INSTANCE       give up for good the undo on INSTANCE (its directory or
                                   server is gone and will not come back; recovery refused it
                                   with InstanceNotFound): nothing is done there, the journal
                                   records the abandoned steps, the run ends (exit 4, naming
                                   what was left) and plans work again; an interrupted
                                   `ferry rollback` run ends leaving its targets there as
                                   they are. Repeatable. Refused for an instance the undo
                                   can reach.
        A target written after the run swapped it in is left as it is, with its checkpoint beside
        it (SPEC §6 "Writes during a run"); `ferry status RUN` lists it.
        Exit: 0 recovered (or nothing to do), 4 some step failed (run it again once the instances
        are reachable; a checkpoint that is gone needs --keep-later-writes; an instance gone for
        good needs --abandon INSTANCE) or a target was left as it is (or abandoned).
        """,
        "rollback": """
        Usage: ferry rollback RUN [PATH]

        Restores what a committed run replaced from the checkpoints it kept, removes databases it
        created, takes back its user sync, and puts the state records back. Refused if a later run
        changed the same databases, or if a target was written after the run committed (its
        content token or fingerprint differs from the one recorded then; where only a fingerprint
        that is not exact differs, it may have been): rolling back would discard those writes.
        It is a run of its own: interrupted, it blocks plan, apply and backup with RunInterrupted
        until `ferry recover` finishes it.
          --force                  roll back even over writes made after the commit
          --lock-timeout DURATION  wait up to DURATION for the state lock (default 0: at once)
        """,
        "backup": """
        Usage: ferry backup NAME [PATH]

        Takes a backup set now for backup resource NAME (backups.NAME in the plan), prints its id
        and records it in the state.
          --lock-timeout DURATION  wait up to DURATION for the state lock (default 0: at once)
        """,
        "state": """
        Usage: ferry state list
               ferry state show ADDR
               ferry state rm ADDR
               ferry state keep N
               ferry state migrate --to DIR|URL [--from DIR|URL]

        list: resources in the state. show: one record as JSON. rm: forget a resource (its
        databases are left alone). keep: how many committed runs keep their checkpoints for
        `ferry rollback` (default 1; 0 drops them at commit). migrate: move the state and its
        runs (from --state, or --from) into an empty place (a directory or a postgres:// url),
        under both locks; the source then refuses use.
          --lock-timeout DURATION  rm, keep, migrate: wait up to DURATION for the state lock (default 0)
        """,
        "unlock": """
        Usage: ferry unlock [LOCK_ID] [--force]
               ferry unlock --claims INSTANCE [RUN] [PATH]

        Removes the state lock if LOCK_ID matches it. A holder that still runs on this host is
        refused (StateLocked) unless --force; a holder on another host cannot be checked and is
        the operator's call. Without LOCK_ID, removes a lock file that cannot be read (empty or
        damaged).
        --claims: shows the databases RUN claims on INSTANCE (an instance of the plan at PATH,
        plans/ by default; a PATH alone must name an existing file or directory, and one
        shaped like a run id is read as RUN: write ./NAME), who holds
        them and what the run left there, then releases the claims. Refused while the run still
        runs on this host, or when its interrupted journal is here (use `ferry recover`).
        Without RUN, the one run holding claims there. Only the plan's instances are read:
        an error elsewhere (an import's dump missing from this checkout) is a warning.
        """,
        "explain": """
        Usage: ferry explain CODE

        Describes an error code, e.g. `ferry explain NameConflict` or `ferry explain Syntax`.
        Without CODE, lists every code.
        """,
        "schema": """
        Usage: ferry schema

        Prints the JSON Schema (draft 2020-12) of the plan format, for editors and other validators.
        A plan file may name it: "$schema": "../plan.schema.json" (ferry ignores the value).
        Save it with: ferry schema > plan.schema.json. It checks each file's shape; references
        across files, cycles and file sources are checked by `ferry validate`.
        """,
        "completion": """
        Usage: ferry completion bash|zsh|fish

        Prints a completion script: commands, flags, formats, file names, and the plan's resource
        addresses, backups, state records, runs and error codes (read without connecting).
          bash: source <(ferry completion bash)
          zsh:  source <(ferry completion zsh)
          fish: ferry completion fish | source
        """,
        "version": """
        Usage: ferry version

        Prints Ferry's version and the engines it was built with.
        """,
    ]
}
