import FerryCore
import Foundation

/// How Ferry tells its own numbered databases from the user's: a database is Ferry's only while
/// it holds a marker hash whose *name* carries the run id (`__ferry:shadow:RUN`,
/// `__ferry:checkpoint:RUN`), so a user key of any fixed name is never taken for a marker, never
/// skipped and never overwritten. Ferry names the database itself `N@RUN` in its journal, so
/// every destructive step knows which run's marker it must find.
///
/// A shadow marker counts the keys Ferry wrote into the shadow (`wrote`, `wrotepersistent`,
/// kept in the same transaction as each batch, see `RedisShadowLedger`), so a shadow holding
/// more keys than that holds an application's keys and is not flushed.
/// A checkpoint marker also records the database's key counts at the swap (`keys`, and
/// `persistent`: keys without a TTL). Before a checkpoint is flushed, the counts must show that
/// nothing was added since (persistent keys exactly as many, all keys no more than then); keys
/// an application wrote there after the run make Ferry leave the database as it is.
enum RedisOwnership {
    static let markerPrefix = "__ferry:"

    static func shadowMarker(run: String) -> String { "__ferry:shadow:\(run)" }
    static func checkpointMarker(run: String) -> String { "__ferry:checkpoint:\(run)" }

    /// Both marker names of a run, as key bytes (what a scan of that run's database leaves out).
    static func markers(run: String) -> Set<[UInt8]> {
        [Array(shadowMarker(run: run).utf8), Array(checkpointMarker(run: run).utf8)]
    }

    /// `N@RUN`: the name Ferry gives a numbered database it builds for (or keeps from) a run.
    static func name(database: Int, run: String) -> String { "\(database)@\(run)" }

    /// The number and run of a name Ferry made (`N@RUN`), or of a plain number (run nil).
    static func parse(_ name: String) -> (database: Int, run: String?)? {
        let parts = name.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let n = Int(first), n >= 0, String(n) == first else { return nil }
        if parts.count == 1 { return (n, nil) }
        let run = String(parts[1])
        guard !run.isEmpty else { return nil }
        return (n, run)
    }

    /// Lua: the selected database's key count and count of keys with a TTL, from `INFO keyspace`
    /// (an empty database has no line: 0, 0). `ARGV[1]` is the database number.
    static let keyspaceCountsLua = """
        local function counts(db)
          local info = redis.call('INFO', 'keyspace')
          local k, e = string.match(info, 'db' .. db .. ':keys=(%d+),expires=(%d+)')
          return tonumber(k or '0'), tonumber(e or '0')
        end
        """

    /// Lua: true when no key of the selected database (but `marker`) was written or read since
    /// the swap that `marker` recorded (its `swapped` field, the server's `TIME` in seconds), or,
    /// for a shadow being built, since Ferry last wrote or read it (its `touched` field,
    /// `touchScript`; the later of the two where both are there):
    /// every key's `OBJECT IDLETIME` must be at least the seconds since then, less 2 for the LRU
    /// clock's one-second resolution. The keys of a checkpoint are the target's old data, which
    /// nothing touches after the swap; a key an application wrote there later, even one that
    /// replaced a deleted or expired key of the same kind (which key counts cannot see), is
    /// younger. True as well when there is nothing to check: no `swapped` field (markers of
    /// earlier releases), fewer than 3 seconds since the swap (the counts decide), or a server
    /// that does not track idle time (an LFU `maxmemory-policy`: `OBJECT IDLETIME` errs).
    /// Keys whose value is a shared object (`OBJECT REFCOUNT` INT_MAX: the small integers a
    /// server without an LRU/LFU `maxmemory-policy` shares) are left out: their idle time is
    /// that of every key on the server holding the same integer, so a read of another key, in
    /// another database (Ferry's own reads of the target it swapped in), made the checkpoint look
    /// used and it was never dropped (F20). Such keys are seen only through the key counts.
    /// O(keys) inside the script, as the `FLUSHDB` that follows it is.
    static let untouchedSinceSwapLua = """
        local function untouchedSinceSwap(marker)
          local swapped = tonumber(redis.call('HGET', marker, 'swapped') or '')
          local touched = tonumber(redis.call('HGET', marker, 'touched') or '')
          if touched ~= nil and (swapped == nil or touched > swapped) then swapped = touched end
          if swapped == nil then return true end
          local elapsed = tonumber(redis.call('TIME')[1]) - swapped
          if elapsed < 3 then return true end
          local cursor = '0'
          repeat
            local reply = redis.call('SCAN', cursor, 'COUNT', 1000)
            cursor = reply[1]
            for _, key in ipairs(reply[2]) do
              -- A value the server shares between keys (small integers, refcount INT_MAX) has
              -- one idle time for all of them: any read of any key anywhere holding it (Ferry's
              -- own reads of the new target included) makes it young, so it tells nothing (F20).
              local refs = redis.pcall('OBJECT', 'REFCOUNT', key)
              if key ~= marker and not (type(refs) == 'number' and refs >= 2147483646) then
                local idle = redis.pcall('OBJECT', 'IDLETIME', key)
                if type(idle) == 'table' and idle.err then return true end
                if type(idle) == 'number' and idle + 2 < elapsed then return false end
              end
            end
          until cursor == '0'
          return true
        end
        """

    /// Lua: whether the keys without a TTL of the selected database (markers left out) sum to the
    /// shadow marker's `persistentsum` modulo 2^28 (each key's weight the first 7 hex digits of
    /// the SHA-1 of its name, as `RedisShadowLedger.weight`), or the marker keeps no such sum
    /// (a marker of an earlier release, a shadow put back by a swap back, one nothing was
    /// written into yet). A key of Ferry's that is gone (deleted, evicted) with another key in
    /// its place is told here, which the counts cannot (fresh tester round 35, F9); so is a key
    /// of Ferry's gone alone, or one it wrote twice (a repeated key in the parts of an import, a
    /// key `SCAN` returned twice), which leave the shadow as it is. The stored sum is read
    /// modulo 2^28 from its decimal text (it may exceed what a Lua number holds exactly).
    /// O(keys) inside the script, as the `FLUSHDB` that follows it is.
    static let persistentSumLua = """
        local function storedModulo(stored, m)
          local want, negative = 0, false
          for i = 1, #stored do
            local c = string.byte(stored, i)
            if c == 45 then negative = true else want = (want * 10 + c - 48) % m end
          end
          if negative then want = (m - want) % m end
          return want
        end
        local function eachPersistentKey(marker, other, visit)
          local cursor = '0'
          repeat
            local reply = redis.call('SCAN', cursor, 'COUNT', 1000)
            cursor = reply[1]
            for _, key in ipairs(reply[2]) do
              if key ~= marker and key ~= other and redis.call('PTTL', key) == -1 then visit(key) end
            end
          until cursor == '0'
        end
        local function persistentSumHolds(marker, other)
          local stored = redis.call('HGET', marker, 'persistentsum')
          if not stored then return true end
          local m = 268435456
          local want = storedModulo(stored, m)
          local have = 0
          eachPersistentKey(marker, other, function(key)
            have = (have + tonumber(string.sub(redis.sha1hex(key), 1, 7), 16)) % m
          end)
          return have == want
        end
        """

    /// Lua: whether the keys without a TTL of the selected database (markers left out) whose
    /// names no `pend:` field of the shadow marker lists have values that sum to the marker's
    /// `valuesum` modulo 2^28 (each key's weight the first 7 hex digits of the SHA-1 of its name
    /// followed by its `DUMP` payload, as `RedisShadowLedger.valueWeight`), or the marker keeps
    /// no such sum (`valuesumoff`: a key written twice; no `valuesum` yet, or a marker of an
    /// earlier release). A value an application rewrote in place under the name of one of
    /// Ferry's keys, while the run still wrote or with a forged idle time (`RESTORE ... IDLETIME`),
    /// is told here, which counts, names and idle times cannot (fresh tester round 37, F1/F2).
    /// The keys of the last batches (`pend:TAG:N`: each a 4-byte big-endian length, then the
    /// name) are left out: their read-back was not summed yet. `DUMP` counts as an access: run
    /// it after the idle-time check. O(keys and their bytes) inside the script. Follows
    /// `persistentSumLua` in a script (its `storedModulo` and `eachPersistentKey`).
    static let valueSumLua = """
        local function valueSumHolds(marker, other)
          local stored = redis.call('HGET', marker, 'valuesum')
          if not stored or redis.call('HEXISTS', marker, 'valuesumoff') == 1 then return true end
          local m = 268435456
          local want = storedModulo(stored, m)
          local skip = {}
          for _, field in ipairs(redis.call('HKEYS', marker)) do
            if string.sub(field, 1, 5) == 'pend:' then
              local names = redis.call('HGET', marker, field)
              local i = 1
              while i + 3 <= #names do
                local a, b, c, d = string.byte(names, i, i + 3)
                local n = ((a * 256 + b) * 256 + c) * 256 + d
                skip[string.sub(names, i + 4, i + 3 + n)] = true
                i = i + 4 + n
              end
            end
          end
          local have = 0
          eachPersistentKey(marker, other, function(key)
            if not skip[key] then
              have = (have + tonumber(string.sub(redis.sha1hex(key .. redis.call('DUMP', key)), 1, 7), 16)) % m
            end
          end)
          return have == want
        end
        """

    /// Flushes database `ARGV[1]` (selected) only when it is provably the run's:
    /// `KEYS[1]` the checkpoint marker, `KEYS[2]` the shadow marker of the run.
    /// A shadow is the run's only while it holds no more keys than Ferry wrote into it
    /// (`wrote`, counted with every batch by `RedisShadowLedger`) and no more keys without a TTL
    /// than it wrote without one (`wrotepersistent`); a shadow put back by a swap back
    /// (`undoSwap`) carries the counts at that swap (`keys`, `persistent`), as a checkpoint does;
    /// a marker with neither proves only itself (flushed only when it is alone).
    /// A checkpoint (and a shadow put back by a swap back) must also be untouched since that swap
    /// (`untouchedSinceSwapLua`).
    /// `ARGV[2]`, for a checkpoint: `check` checks and does not flush (1: it would), `noidle`
    /// leaves the idle times out (the caller compared the checkpoint's content with what it held
    /// at the swap, `RedisCheckpointContent`, by a read that counts as an access on servers
    /// before 7.2), anything else checks everything.
    /// Returns 1 flushed, 0 already empty, -1 keys were added since the swap, -2 it holds data
    /// but no marker of this run, -3 a checkpoint marker without counts, -4 a shadow holding
    /// keys Ferry did not write, -5 a key was written or read since the swap, -6 a checkpoint
    /// whose swap back was refused (`kept`: the target was written after the swap), -7 a
    /// shadow whose keys without a TTL are not the ones Ferry wrote (`persistentSumLua`), -8 a
    /// shadow with a key written or read after Ferry last wrote or read it (`touched`,
    /// `touchScript`): a value an application rewrote in place under the name of one of Ferry's
    /// keys, which neither the counts nor the sum of names can see (fresh tester round 36, F1);
    /// -9 a shadow whose values without a TTL are not the ones Ferry read back after writing
    /// them (`valueSumLua`: a value rewritten in place while the run wrote, or with an old idle
    /// time, fresh tester round 37, F1/F2).
    static let guardedFlushScript = """
        if redis.replicate_commands then redis.replicate_commands() end
        \(keyspaceCountsLua)
        \(untouchedSinceSwapLua)
        \(persistentSumLua)
        \(valueSumLua)
        -- A command the user's ACL rules refuse is named (fresh tester round 31, F4: the raw
        -- script error named none); nothing has been written then.
        if redis.acl_check_cmd then
          for _, c in ipairs({{'FLUSHDB'}, {'INFO', 'keyspace'}, {'EXISTS', KEYS[1]}, {'HGET', KEYS[1], 'keys'}, {'HEXISTS', KEYS[1], 'kept'}}) do
            if not redis.acl_check_cmd(unpack(c)) then
              return redis.error_reply('NOPERM the user may not run ' .. c[1] .. ' (ACL): nothing was dropped')
            end
          end
        end
        if redis.call('EXISTS', KEYS[1]) == 1 then
          if redis.call('HEXISTS', KEYS[1], 'kept') == 1 then return -6 end
          local keys = tonumber(redis.call('HGET', KEYS[1], 'keys') or '')
          local persistent = tonumber(redis.call('HGET', KEYS[1], 'persistent') or '')
          if keys == nil or persistent == nil then return -3 end
          local k, e = counts(ARGV[1])
          if k - e - 1 ~= persistent or k - 1 > keys then return -1 end
          if ARGV[2] ~= 'noidle' and ARGV[2] ~= 'countsonly' and not untouchedSinceSwap(KEYS[1]) then return -5 end
          if ARGV[2] == 'check' or ARGV[2] == 'countsonly' then return 1 end
          redis.call('FLUSHDB')
          return 1
        end
        if redis.call('EXISTS', KEYS[2]) == 1 then
          local wrote = tonumber(redis.call('HGET', KEYS[2], 'wrote') or '')
          local wrotePersistent = tonumber(redis.call('HGET', KEYS[2], 'wrotepersistent') or '')
          if wrote == nil or wrotePersistent == nil then
            local persistent = tonumber(redis.call('HGET', KEYS[2], 'persistent') or '')
            local keys = tonumber(redis.call('HGET', KEYS[2], 'keys') or '')
            if persistent ~= nil and keys ~= nil then
              wrote, wrotePersistent = keys, persistent
            else
              wrote, wrotePersistent = 0, 0
            end
          end
          local k, e = counts(ARGV[1])
          if k - 1 > wrote or k - e - 1 > wrotePersistent then return -4 end
          if not persistentSumHolds(KEYS[2], KEYS[1]) then return -7 end
          if not untouchedSinceSwap(KEYS[2]) then
            if redis.call('HEXISTS', KEYS[2], 'swapped') == 1 then return -5 end
            return -8
          end
          if not valueSumHolds(KEYS[2], KEYS[1]) then return -9 end
          redis.call('FLUSHDB')
          return 1
        end
        if redis.call('DBSIZE') == 0 then return 0 end
        return -2
        """

    /// Lua: stamps the shadow marker `KEYS[1]` with the server's `TIME` in seconds (`touched`):
    /// the last moment Ferry wrote or read the shadow's keys. Each batch's transaction ends with
    /// it (`RedisShadowLedger`), and so does the verify step, whose reads count as accesses on
    /// servers before 7.2; a key whose `OBJECT IDLETIME` is then younger than the stamp (by more
    /// than the LRU clock's slack) was written or read by someone else, and the shadow is not
    /// flushed (`untouchedSinceSwapLua`, result -8). Servers without
    /// `redis.replicate_commands` (before 3.2) refuse a write after `TIME` in a script: nothing
    /// is stamped there, and only the counts and sums decide.
    static let touchScript = """
        if not redis.replicate_commands then return 0 end
        redis.replicate_commands()
        redis.call('HSET', KEYS[1], 'touched', redis.call('TIME')[1])
        return 1
        """

    /// Lua: whether the shadow whose marker is `marker` (database `db`, selected) holds no more
    /// keys than Ferry counted writing into it (`wrote`), and no more keys without a TTL than
    /// `wrotepersistent` (`RedisShadowLedger`); a marker without counts proves only itself.
    /// Returns the verdict, the keys and keys without a TTL besides the marker, and the counts.
    static let onlyFerryWroteLua = """
        local function onlyFerryWrote(marker, db)
          local wrote = tonumber(redis.call('HGET', marker, 'wrote') or '')
          local wrotePersistent = tonumber(redis.call('HGET', marker, 'wrotepersistent') or '')
          if wrote == nil or wrotePersistent == nil then wrote, wrotePersistent = 0, 0 end
          local k, e = counts(db)
          return (k - 1 <= wrote and k - e - 1 <= wrotePersistent), k - 1, k - e - 1, wrote, wrotePersistent
        end
        """

    /// `onlyFerryWroteLua` on `KEYS[1]` (the shadow marker), database `ARGV[1]` (selected):
    /// `[1 or 0, keys, persistent keys, wrote, wrote persistent]`.
    static let shadowWriteCheckScript = """
        \(keyspaceCountsLua)
        \(onlyFerryWroteLua)
        local ok, k, p, w, wp = onlyFerryWrote(KEYS[1], ARGV[1])
        return {ok and 1 or 0, k, p, w, wp}
        """

    /// Swaps the target's number with the one whose marker `KEYS[1]` names it as the target and
    /// puts marker `KEYS[2]` (with the run and the counts of what it now marks) on the other
    /// side, in one script. `ARGV`: target db, shadow db, run, and `swap` or `undo`. Returns 1
    /// swapped, 2 `KEYS[2]` already names the target (done before), 0 neither marker does, -1
    /// the target holds a key with the name of `KEYS[2]` (a user key: nothing is swapped).
    /// A swap (`swap`) also returns -2, nothing swapped, when the shadow holds keys Ferry did not
    /// write (`onlyFerryWroteLua`: an application wrote into it, F17), and records in the
    /// checkpoint marker the target's counts right after the swap (`afterkeys`,
    /// `afterpersistent`). An undo (`undo`) returns -3, nothing swapped, when the target's
    /// counts are no longer those (an application added or deleted keys since the swap, in the
    /// moment between the rollback's content check and this script), and marks the checkpoint
    /// `kept`, so no later drop flushes it (`guardedFlushScript`).
    /// A swap also stores `ARGV[5]`, when not empty, in the checkpoint marker as `content`
    /// (`RedisCheckpointContent`, read from the target just before this script), with
    /// `contentexact` 1 when the server's write counter is still `ARGV[6]` (read before that
    /// read): nothing was written anywhere on the server since, so `content` is exactly what the
    /// checkpoint holds at the swap.
    static let markerSwapScript = """
        if redis.replicate_commands then redis.replicate_commands() end
        \(keyspaceCountsLua)
        \(onlyFerryWroteLua)
        local function writeCounter()
          local info = redis.call('INFO', 'persistence')
          return (string.match(info, 'rdb_changes_since_last_save:(%d+)') or '') .. '/' .. (string.match(info, 'rdb_last_save_time:(%d+)') or '')
        end
        local counterAtStart = writeCounter()
        if redis.call('HGET', KEYS[1], 'target') == ARGV[1] then
          -- Every command the swap may run, asked of the user's ACL rules before any write: a
          -- command refused half-way stays refused with what ran before it kept (a script is not
          -- rolled back), and a SWAPDB refused after the marker's DEL left a full shadow nothing
          -- proved Ferry's (fresh tester round 30, F1).
          if redis.acl_check_cmd then
            for _, c in ipairs({{'INFO', 'persistence'}, {'INFO', 'keyspace'}, {'HGET', KEYS[1], 'target'}, {'SELECT', ARGV[1]},
                                {'EXISTS', KEYS[2]}, {'DEL', KEYS[1]}, {'SWAPDB', ARGV[1], ARGV[2]},
                                {'HSET', KEYS[2], 'target', ARGV[1]}, {'HSET', KEYS[1], 'kept', '1'}, {'TIME'}}) do
              if not redis.acl_check_cmd(unpack(c)) then
                return redis.error_reply('NOPERM the user may not run ' .. c[1] .. ' (ACL): nothing was swapped')
              end
            end
          end
          redis.call('SELECT', ARGV[1])
          local taken = redis.call('EXISTS', KEYS[2])
          redis.call('SELECT', ARGV[2])
          if taken == 1 then return -1 end
          if ARGV[4] == 'swap' and not onlyFerryWrote(KEYS[1], ARGV[2]) then return -2 end
          local afterKeys, afterPersistent
          if ARGV[4] == 'undo' then
            afterKeys = tonumber(redis.call('HGET', KEYS[1], 'afterkeys') or '')
            afterPersistent = tonumber(redis.call('HGET', KEYS[1], 'afterpersistent') or '')
            if afterKeys ~= nil and afterPersistent ~= nil then
              local tk, te = counts(ARGV[1])
              if tk ~= afterKeys or tk - te ~= afterPersistent then
                redis.call('HSET', KEYS[1], 'kept', '1')
                return -3
              end
            end
          end
          -- The swap first, then the old marker (now in the target's number) goes: a SWAPDB
          -- that fails leaves the shadow still marked, for the rollback to drop.
          redis.call('SWAPDB', ARGV[1], ARGV[2])
          redis.call('SELECT', ARGV[1])
          redis.call('DEL', KEYS[1])
          redis.call('SELECT', ARGV[2])
          local k, e = counts(ARGV[2])
          redis.call('HSET', KEYS[2], 'target', ARGV[1], 'run', ARGV[3], 'keys', tostring(k), 'persistent', tostring(k - e),
                     'swapped', redis.call('TIME')[1])
          if ARGV[4] == 'swap' then
            local tk, te = counts(ARGV[1])
            redis.call('HSET', KEYS[2], 'afterkeys', tostring(tk), 'afterpersistent', tostring(tk - te))
            if ARGV[5] ~= nil and ARGV[5] ~= '' then
              redis.call('HSET', KEYS[2], 'content', ARGV[5], 'contentexact', (counterAtStart == ARGV[6]) and '1' or '0')
            end
          end
          return 1
        end
        if redis.call('HGET', KEYS[2], 'target') == ARGV[1] then return 2 end
        return 0
        """

    /// A source key that has the name of the run's own marker: refused, so that neither is lost.
    static func reservedKeyError(_ key: [UInt8], errorCode: ErrorCode) -> FerryError {
        FerryError(errorCode, "the source holds a key named \"\(String(decoding: key, as: UTF8.self))\", the name of this run's own marker in the target database; nothing was swapped in",
                   hint: "apply again: the next run's markers carry another run id")
    }

    /// A Ferry marker found in a database: which run, which role, for which target.
    struct Mark: Hashable {
        enum Role: String { case shadow, checkpoint }
        var role: Role
        var run: String
        var target: String?
    }

    /// Every Ferry marker in the connection's selected database (a `SCAN` for `__ferry:*`
    /// hashes: the names carry the run, so they cannot be asked for by name).
    static func marks(on connection: RedisConnection) throws -> [Mark] {
        var found: [Mark] = []
        var cursor = "0"
        repeat {
            let reply = try connection.command("SCAN", cursor, "MATCH", "__ferry:*", "COUNT", "10000")
            let parts = reply.elements
            guard parts.count == 2, let next = parts[0].string else { throw RedisReplyError(message: "unexpected SCAN reply") }
            cursor = next
            for key in parts[1].elements.compactMap(\.string) {
                let role: Mark.Role
                let run: String
                if key.hasPrefix("__ferry:shadow:") {
                    role = .shadow; run = String(key.dropFirst("__ferry:shadow:".count))
                } else if key.hasPrefix("__ferry:checkpoint:") {
                    role = .checkpoint; run = String(key.dropFirst("__ferry:checkpoint:".count))
                } else { continue }
                // A user's key of that shape is not a marker unless it is a hash naming this run.
                guard let fields = try? connection.command("HMGET", key, "run", "target").elements,
                      fields.count == 2, fields[0].string == run else { continue }
                found.append(Mark(role: role, run: run, target: fields[1].string))
            }
        } while cursor != "0"
        return found
    }
}
