import FerryCore
import Foundation

/// `ferry schema` and `ferry completion`: help for editors and shells.
extension Context {
    /// Prints the plan format's JSON Schema (draft 2020-12) on stdout.
    func schema() throws -> Int32 {
        try args.check(allowedSwitches: [], allowedValues: [], command: "schema")
        guard args.positional.isEmpty else {
            throw FerryError(.invalidParameter, "ferry schema takes no arguments", hint: "ferry schema > plan.schema.json")
        }
        console.out(PlanJSONSchema.text())
        return 0
    }

    /// `ferry completion bash|zsh|fish` prints a completion script; `ferry completion --list WHAT
    /// [PATH]` prints the words the scripts complete from (addresses, backups, runs, codes).
    func completion() throws -> Int32 {
        try args.check(allowedSwitches: [], allowedValues: ["--list"], command: "completion")
        if let what = args.value("--list") {
            for word in completionWords(what) { console.line(word) }
            return 0
        }
        guard args.positional.count == 1, let shell = args.positional.first else {
            throw FerryError(.invalidParameter, "ferry completion needs one shell: bash, zsh or fish",
                             hint: "for example: source <(ferry completion bash)")
        }
        let table = CompletionTable.current
        switch shell {
        case "bash": console.out(CompletionScripts.bash(table))
        case "zsh": console.out(CompletionScripts.zsh(table))
        case "fish": console.out(CompletionScripts.fish(table))
        default:
            throw FerryError(.invalidParameter, "unknown shell \(shell)", hint: "use bash, zsh or fish")
        }
        return 0
    }

    /// Words for completion; nothing (no error) when the plan or state cannot be read. The plan's
    /// words are read without connecting to anything; `state` and `runs` from `backend`, the state
    /// the commands use (`--state`, else the plan files' block, else `.ferry`: `resolveStateBackend`).
    func completionWords(_ what: String) -> [String] {
        switch what {
        case "addresses", "backups":
            let result = PlanLoader(root: root, allowOutside: []).load(path: planPath())
            let plan = result.plan
            if what == "backups" { return plan.backups.keys.sorted() }
            return plan.imports.keys.sorted().map { "import.\($0)" } + plan.copies.keys.sorted().map { "copy.\($0)" }
                + plan.backups.keys.sorted().map { "backup.\($0)" }
        case "state": return ((try? backend.readState())?.resources.keys.sorted()) ?? []
        case "runs": return backend.journals.runIDs()
        case "codes": return ErrorCode.allCases.map(\.rawValue)
        default: return []
        }
    }
}

/// What the completion scripts know: commands, each command's flags, and the words of valued flags.
/// Read from the `--help` texts, so a flag added to a command's help is completed too.
struct CompletionTable {
    /// Command names, sorted.
    var commands: [String]
    /// Flags per command (without the global ones).
    var flags: [String: [String]]
    /// The words of `--format` per command.
    var formats: [String: [String]]
    static let globalFlags = ["--state", "--no-color", "-v", "--help"]
    /// Flags that take a value (`Arguments.valued`), skipped with their value when the scripts look for the command.
    static var valuedFlags: [String] { Arguments.valued.sorted() }
    /// Flags whose value is a file or directory.
    static let pathFlags = ["--state", "--out", "--allow-outside"]

    static var current: CompletionTable {
        var flags: [String: [String]] = [:]
        var formats: [String: [String]] = [:]
        for (command, help) in Help.commands {
            var found: [String] = []
            for word in help.split(whereSeparator: { " \n[]|=,.;:()`".contains($0) }) where word.hasPrefix("--") {
                let flag = String(word)
                if flag.count > 2, !found.contains(flag), !globalFlags.contains(flag), flag != "--list" { found.append(flag) }
            }
            flags[command] = found
            if let range = help.range(of: "--format ") {
                let words = help[range.upperBound...].prefix { !" \n]".contains($0) }
                formats[command] = words.split(separator: "|").map(String.init)
            }
        }
        return CompletionTable(commands: Help.commands.keys.sorted(), flags: flags, formats: formats)
    }
}

/// The completion scripts. Each completes commands, flags, `--format` words, file names, and asks
/// `ferry completion --list` (no connections) for addresses, backups, state records, runs and codes.
enum CompletionScripts {
    static func bash(_ table: CompletionTable) -> String {
        let flagCases = table.commands.map { "    \($0)) flags=\"\(table.flags[$0, default: []].joined(separator: " "))\" ;;" }
            .joined(separator: "\n")
        let formatCases = table.formats.keys.sorted().map { "      \($0)) words=\"\(table.formats[$0]!.joined(separator: " "))\" ;;" }
            .joined(separator: "\n")
        return """
        # bash completion for ferry. Load it with: source <(ferry completion bash)
        # or save it as ~/.local/share/bash-completion/completions/ferry
        # Lists read the plan (the PATH after the command) and the state the commands use: `--state DIR|URL` on the line, else the plan files' "state" block, else .ferry.
        _ferry_list() {
          if [ "$1" = addresses ] && [ -n "$_ferry_path" ]; then
            "${COMP_WORDS[0]}" "${_ferry_state[@]}" completion --list "$1" "$_ferry_path" 2>/dev/null
          else
            "${COMP_WORDS[0]}" "${_ferry_state[@]}" completion --list "$1" 2>/dev/null
          fi
        }
        _ferry() {
          local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
          local command="" at=0 words="" flags="" i word
          local _ferry_path="" _ferry_state=()
          COMPREPLY=()
          # The command is the first word that is neither a flag nor a flag's value: global options
          # may come before it. bash splits `--state=DIR` into `--state`, `=`, `DIR`.
          for (( i = 1; i < COMP_CWORD; i++ )); do
            word=${COMP_WORDS[i]}
            case "$word" in
              \(CompletionTable.valuedFlags.joined(separator: "|")))
                [ "${COMP_WORDS[i+1]}" = "=" ] && i=$((i + 1))
                if [ "$word" = --state ] && [ $((i + 1)) -lt "$COMP_CWORD" ]; then _ferry_state=(--state "${COMP_WORDS[i+1]}"); fi
                i=$((i + 1)) ;;
              -*) ;;
              *) if [ -z "$command" ]; then command=$word; at=$i
                 elif [ -z "$_ferry_path" ]; then _ferry_path=$word; fi ;;
            esac
          done
          [ "$prev" = "=" ] && prev=${COMP_WORDS[COMP_CWORD-2]}
          if [ -z "$command" ] && [ "$prev" != --state ]; then
            if [[ "$cur" == -* ]]; then
              mapfile -t COMPREPLY < <(compgen -W "\(CompletionTable.globalFlags.joined(separator: " ")) --version" -- "$cur")
            else
              mapfile -t COMPREPLY < <(compgen -W "\(table.commands.joined(separator: " "))" -- "$cur")
            fi
            return 0
          fi
          case "$prev" in
            --format)
              case "$command" in
        \(formatCases)
              esac
              mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur"); return 0 ;;
            --target|--exclude|--replace)
              mapfile -t COMPREPLY < <(compgen -W "$(_ferry_list addresses)" -- "$cur"); return 0 ;;
            \(CompletionTable.pathFlags.joined(separator: "|")))
              mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
            --parallelism) return 0 ;;
          esac
          case "$command" in
        \(flagCases)
          esac
          if [[ "$cur" == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$flags \(CompletionTable.globalFlags.joined(separator: " "))" -- "$cur")
            return 0
          fi
          case "$command" in
            help) words="\(table.commands.joined(separator: " "))" ;;
            completion) words="bash zsh fish" ;;
            explain) words=$(_ferry_list codes) ;;
            backup) words=$(_ferry_list backups) ;;
            status|rollback) words=$(_ferry_list runs) ;;
            state)
              if [ "$COMP_CWORD" -eq $((at + 1)) ]; then words="list show rm keep"
              elif [ "${COMP_WORDS[at+1]}" = show ] || [ "${COMP_WORDS[at+1]}" = rm ]; then words=$(_ferry_list state)
              fi ;;
            *) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
          esac
          mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
          return 0
        }
        complete -o default -F _ferry ferry

        """
    }

    static func zsh(_ table: CompletionTable) -> String {
        let flagCases = table.commands.map { "    \($0)) flags=(\(table.flags[$0, default: []].joined(separator: " "))) ;;" }
            .joined(separator: "\n")
        let formatCases = table.formats.keys.sorted().map { "        \($0)) compadd -- \(table.formats[$0]!.joined(separator: " ")) ;;" }
            .joined(separator: "\n")
        return """
        #compdef ferry
        # zsh completion for ferry. Load it with: source <(ferry completion zsh)
        # or save it as _ferry in a directory of $fpath.
        # Lists read the plan (the PATH after the command) and the state the commands use: `--state DIR|URL` on the line, else the plan files' "state" block, else .ferry.
        _ferry_list() {
          if [[ $1 == addresses && -n $_ferry_path ]]; then
            ${words[1]} $_ferry_state completion --list $1 $_ferry_path 2>/dev/null
          else
            ${words[1]} $_ferry_state completion --list $1 2>/dev/null
          fi
        }
        _ferry() {
          local command="" prev=${words[CURRENT-1]} word
          local -i at=0 i
          local -a flags _ferry_state
          local _ferry_path=""
          # The command is the first word that is neither a flag nor a flag's value: global options
          # may come before it.
          for (( i = 2; i < CURRENT; i++ )); do
            word=${words[i]}
            case $word in
              \(CompletionTable.valuedFlags.joined(separator: "|")))
                if [[ $word == --state ]] && (( i + 1 < CURRENT )); then _ferry_state=(--state ${words[i+1]}); fi
                (( i++ )) ;;
              --state=*) _ferry_state=(--state ${word#--state=}) ;;
              -*) ;;
              *) if [[ -z $command ]]; then command=$word; at=$i
                 elif [[ -z $_ferry_path ]]; then _ferry_path=$word; fi ;;
            esac
          done
          if [[ -z $command && $prev != --state ]]; then
            if [[ $PREFIX == -* ]]; then compadd -- \(CompletionTable.globalFlags.joined(separator: " ")) --version
            else compadd -- \(table.commands.joined(separator: " ")); fi
            return
          fi
          case $prev in
            --format)
              case $command in
        \(formatCases)
              esac
              return ;;
            --target|--exclude|--replace) compadd -- ${(f)"$(_ferry_list addresses)"}; return ;;
            \(CompletionTable.pathFlags.joined(separator: "|"))) _files; return ;;
            --parallelism) return ;;
          esac
          case $command in
        \(flagCases)
          esac
          if [[ $PREFIX == -* ]]; then
            compadd -- $flags \(CompletionTable.globalFlags.joined(separator: " "))
            return
          fi
          case $command in
            help) compadd -- \(table.commands.joined(separator: " ")) ;;
            completion) compadd -- bash zsh fish ;;
            explain) compadd -- ${(f)"$(_ferry_list codes)"} ;;
            backup) compadd -- ${(f)"$(_ferry_list backups)"} ;;
            status|rollback) compadd -- ${(f)"$(_ferry_list runs)"} ;;
            state)
              if (( CURRENT == at + 1 )); then compadd -- list show rm keep
              elif [[ ${words[at+1]} == (show|rm) ]]; then compadd -- ${(f)"$(_ferry_list state)"}
              fi ;;
            *) _files ;;
          esac
        }
        if (( $+functions[compdef] )); then compdef _ferry ferry; fi

        """
    }

    static func fish(_ table: CompletionTable) -> String {
        var lines = [
            "# fish completion for ferry. Load it with: ferry completion fish | source",
            "# or save it as ~/.config/fish/completions/ferry.fish",
            "complete -c ferry -f",
            "complete -c ferry -n __fish_use_subcommand -a '\(table.commands.joined(separator: " "))'",
            "complete -c ferry -l state -r -F -d 'state directory'",
            "complete -c ferry -l no-color -d 'no colour'",
            "complete -c ferry -s v -d 'more detail on errors'",
            "complete -c ferry -l help -s h -d help",
        ]
        for command in table.commands {
            for flag in table.flags[command, default: []] {
                let name = String(flag.dropFirst(2))
                var line = "complete -c ferry -n '__fish_seen_subcommand_from \(command)' -l \(name)"
                if name == "format", let words = table.formats[command] {
                    line += " -x -a '\(words.joined(separator: " "))'"
                } else if name == "target" || name == "exclude" || name == "replace" {
                    line += " -x -a '(ferry completion --list addresses 2>/dev/null)'"
                } else if CompletionTable.pathFlags.contains(flag) {
                    line += " -r -F"
                } else if name == "parallelism" {
                    line += " -x"
                }
                lines.append(line)
            }
        }
        lines += [
            "complete -c ferry -n '__fish_seen_subcommand_from help' -a '\(table.commands.joined(separator: " "))'",
            "complete -c ferry -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'",
            "complete -c ferry -n '__fish_seen_subcommand_from explain' -a '(ferry completion --list codes 2>/dev/null)'",
            "complete -c ferry -n '__fish_seen_subcommand_from backup' -a '(ferry completion --list backups 2>/dev/null)'",
            "complete -c ferry -n '__fish_seen_subcommand_from status rollback' -a '(ferry completion --list runs 2>/dev/null)'",
            "complete -c ferry -n '__fish_seen_subcommand_from state; and not __fish_seen_subcommand_from list show rm keep' -a 'list show rm keep'",
            "complete -c ferry -n '__fish_seen_subcommand_from show rm; and __fish_seen_subcommand_from state' -a '(ferry completion --list state 2>/dev/null)'",
            "complete -c ferry -n '__fish_seen_subcommand_from init validate fmt plan show graph apply recover' -F",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
