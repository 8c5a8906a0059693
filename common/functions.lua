#!lua name=cachefleet
--[[
cachefleet's Redis function library (Redis 7 FUNCTION LOAD).

What it owns: every write the fleet makes to the cache, and the web tier's
fill.  The consumers load it at start and after every reconnect
(FUNCTION LOAD REPLACE), so a Redis restarted empty gets it back without a
consumer restart.  The C side that builds the calls is common/apply.c.

DESIGN
Each cache key <key> may have a companion marker {<key>}:v (the braces hash
it to the key's cluster slot) holding three decimal numbers "V W T":
  V  the newest version of the key's owning entity applied to the key
     (a warm or an invalidation of that entity);
  W  the occurred-at time (microseconds) of the event that made the key's
     current state (the warm, or the invalidation);
  T  the newest occurred-at time of an invalidation that came from another
     entity (a stock flip for a product, a role change for a user's
     permissions, an order for a cart).
The rules make the outcome independent of the order in which events of
different entities arrive:
  warm(ver, ts)    applied unless V > ver or T > ts;
  guarded warm(ver, ts, guards)
                   applied unless V > ver or one of the guard sets' markers
                   (the time of the set's last fan-out) is newer than ts.
                   T is not checked: the guards are exactly the sets whose
                   changes matter to the value (a user's permissions
                   depend on the roles held after the event), and T may
                   come from a set the entity has left since (a fan-out
                   of a role the user no longer holds, applied first,
                   must not refuse permissions computed without it);
  invalidate(ver)  applied unless V > ver; leaves a tombstone marker;
  xinval(ts)       deletes unless the current value was written by an event
                   newer than ts (W > ts); raises T to ts;
  fill(ver, read)  (web tier) refused when V > ver, or when T or any tag's
                   marker is newer than the time the web tier read its data.
Versions and times are compared as decimal strings (no loss above 2^53).

Set membership is versioned too: an index set <set> (a role's members, a
user's sessions) has a membership hash {<set>}:m beside it (same slot):
  field <member>   the version of the member's last add or remove (after
                   a remove the field stays, as a tombstone);
  field ""         the version of the set's last purge (members are never
                   empty strings).
The version is the one of the entity the event is about (the user: all of
a user's events share one sequence), so a replayed login after the logout,
or a replayed role change after a newer one, cannot bring a member back,
and a replayed older remove or purge cannot drop a member a newer event
added (a missing member would escape the next fan-out or purge).
  add(m, ver)      refused if m's field or the purge field is newer than
                   ver; else SADD, the field set to ver, and the set's and
                   the hash's TTL extended to ttl (ttl 0: the set gets
                   none, and the hash is made permanent, as its set);
  remove(m, ver)   the same refusal; else SREM, the field set to ver;
  purge(ver)       refused as a whole if the purge field is newer than
                   ver; else every member whose field is not newer than
                   ver is removed and its key deleted (a member added by a
                   newer event stays), every field not newer than ver is
                   dropped (tombstones included), and the purge field is
                   set to ver.
A hash that a remove or a purge creates (no add seen: a logout after the
index expired, a purge of a user without sessions) gets the tombstone TTL,
like every tombstone; an add gives it its set's lifetime.  So a tombstone
field stays until the next purge or until the hash expires: a session
index of a user who logs in often grows by one small field (a session key
and a version, about 50 bytes) per logout between purges, and the whole
hash goes session_index_ttl after the user's last login (each login
renews it), so it holds at most the sessions opened since the last purge
within that time.  A role's hash, like the role's set, never expires and
is never purged: it holds one field per user who ever joined or left the
role (bounded by the users).

cachefleet_apply packs a whole batch: KEYS holds every key in operation
order, ARGV holds "1" (protocol), the tombstone TTL in ms, the TTL in ms
that a marker put back after a refusal gets (longer than any value's TTL
plus the tombstone TTL), then for every operation its one-letter code
followed by its arguments:
  W key   ver ts ttl_ms value      versioned warm
  T key guard... n ver ts ttl_ms value
                                   guarded warm: refused when V > ver or
                                   one of the n guard sets (a role the
                                   user holds) changed after ts (the key
                                   then invalidated as by X at that
                                   time); T is not checked
  D key   ver ts                   versioned invalidation (tombstone)
  X key   ts                       invalidation from another entity
  G tag   ts                       tag invalidation: every member deleted and
                                   removed from the tag, except a member whose
                                   marker's W (the fill's read time) is newer
                                   than ts: read after the change, it stays
  A set   member ver ttl_ms        versioned index add (ttl 0: no expiry)
  R set   member ver               versioned index remove
  F set   ts key_prefix            X(key_prefix .. member, ts) for every
                                   member (deleted unless written by a newer
                                   event; its marker's T raised to ts, so a
                                   fill or warm from before ts is refused),
                                   and ts recorded in the set's marker
                                   {set}:v for the guarded warms (T)
  P set   key_prefix ver           versioned purge: delete key_prefix ..
                                   member for every member not added after
                                   ver, and remove it (the set goes when
                                   it ends up empty)
  C hash  id ver ts payload        category record ("" payload: deleted)
  M menu hash  ttl_ms              rebuild the menu JSON from the records
It returns {applied, refused, denied}: refused counts operations that lost
to a newer state already in Redis; denied counts web-tier keys (a tag's
members, sessions) the caller's ACL did not let it delete.
--]]

local function newer(a, b)
    -- a > b for canonical non-negative decimal strings
    local la, lb = #a, #b
    if la ~= lb then
        return la > lb
    end
    return a > b
end

local function canonical(d)
    return d == '0' or string.match(d, '^[1-9]%d*$') ~= nil
end

local function max_str(a, b)
    if newer(a, b) then
        return a
    end
    return b
end

local function marker_key(key)
    return '{' .. key .. '}:v'
end

local function members_key(set)
    return '{' .. set .. '}:m'
end

local function read_marker(vkey)
    local m = redis.call('GET', vkey)
    if not m then
        return nil
    end
    local v, w, t = string.match(m, '^(%d+) (%d+) (%d+)$')
    if not v then
        return nil
    end
    return v, w, t
end

-- Durations handed to redis.call are decimal strings, never Lua numbers:
-- redis.call formats a number with printf's %.17g, which cost about a tenth
-- of a warm.  ms_sum() gives ttl + tomb as such a string, once per distinct
-- ttl of a call (a batch holds a handful).
local function ms_sum(memo, ttl, tomb)
    local s = memo[ttl]
    if not s then
        local n = tonumber(ttl)
        if not n then
            error('cachefleet_apply: a TTL that is not a number: ' .. tostring(ttl))
        end
        s = string.format('%d', n + tomb)
        memo[ttl] = s
    end
    return s
end

local function xinval(key, ts, tomb_ms)
    local vkey = marker_key(key)
    local v, w, t = read_marker(vkey)
    if v and newer(w, ts) then
        return false
    end
    redis.call('DEL', key)
    if v then
        redis.call('SET', vkey, v .. ' ' .. w .. ' ' .. max_str(t, ts), 'PX', tomb_ms)
    else
        redis.call('SET', vkey, '0 0 ' .. ts, 'PX', tomb_ms)
    end
    return true
end

-- The versioned warm.  Optimistic: write the new marker and read the old
-- one in one call; a refusal (rare) puts the old marker back.  check_t:
-- refused too when T is newer than ts (a plain warm; a guarded warm checks
-- its guards instead).  ttl and mttl (ttl + the tombstone TTL: the
-- marker's) are decimal strings.
local function warm(key, ver, ts, ttl, mttl, value, keep, check_t)
    local vkey = marker_key(key)
    local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', mttl, 'GET')
    local v, t
    if old then
        v, t = string.match(old, '^(%d+) %d+ (%d+)$')
    end
    if v and (newer(v, ver) or (check_t and newer(t, ts))) then
        redis.call('SET', vkey, old, 'PX', keep)
        return false
    end
    if t and t ~= '0' then
        redis.call('SET', vkey, ver .. ' ' .. ts .. ' ' .. t, 'PX', mttl)
    end
    redis.call('SET', key, value, 'PX', ttl)
    return true
end

-- Deletes keys the web tier owns (tagged listings, Django's sessions).  A
-- key the caller's ACL does not let it delete (a tag member outside the
-- patterns granted) is skipped and counted instead of failing the call:
-- one foreign key registered under a tag must not hold the whole stream.
local function del_foreign(list)
    local denied = 0
    for j = 1, #list, 512 do
        local chunk = {unpack(list, j, math.min(j + 511, #list))}
        local ok = redis.pcall('DEL', unpack(chunk))
        if type(ok) == 'table' and ok.err then
            for _, k in ipairs(chunk) do
                local r = redis.pcall('DEL', k)
                if type(r) == 'table' and r.err then
                    denied = denied + 1
                end
            end
        end
    end
    return denied
end

-- Raises key's TTL to ttl when it is lower or none; one call when the key
-- already has a lower TTL (GT treats no TTL as an infinite one; NX then
-- gives such a key its first).  ttl_ms: a number; ttl_s: the same as a
-- decimal string.
local function extend_ttl(key, ttl_ms, ttl_s)
    if ttl_ms > 0 then
        if redis.call('PEXPIRE', key, ttl_s, 'GT') == 0 then
            redis.call('PEXPIRE', key, ttl_s, 'NX')
        end
    end
end

-- The members of a tag that an invalidation at ts must delete: all but
-- those written from data read after ts (their marker's W, the fill's read
-- time or the warm's event time, is newer), which already reflect the
-- change; a replayed tag invalidation leaves them.  A marker the caller
-- may not read (Redis's ACL) counts as none: that member is deleted.
local function fresh_members(members, ts)
    local dels = {}
    for j = 1, #members, 512 do
        local last = math.min(j + 511, #members)
        local vkeys = {}
        for k = j, last do
            vkeys[#vkeys + 1] = marker_key(members[k])
        end
        local got = redis.pcall('MGET', unpack(vkeys))
        if type(got) == 'table' and got.err then
            -- One marker the ACL hides fails the whole MGET: read them one
            -- by one, so that only the hidden ones count as absent.
            got = {}
            for k = 1, #vkeys do
                local one = redis.pcall('GET', vkeys[k])
                got[k] = (type(one) == 'string') and one or false
            end
        end
        for k = j, last do
            local m = got[k - j + 1]
            local w = m and string.match(m, '^%d+ (%d+) %d+$')
            if not (w and newer(w, ts)) then
                dels[#dels + 1] = members[k]
            end
        end
    end
    return dels
end

-- cmd key item... for every item of list, in chunks (unpack's limit).
local function call_chunked(cmd, key, list)
    for j = 1, #list, 512 do
        redis.call(cmd, key, unpack(list, j, math.min(j + 511, #list)))
    end
end

-- An add or a remove of member at ver loses to a newer add or remove of
-- the member, or to a newer purge of the set.
local function membership_newer(mkey, member, ver)
    local f = redis.call('HMGET', mkey, member, '')
    return (f[1] and newer(f[1], ver)) or (f[2] and newer(f[2], ver))
end

------------------------------------------------------------------------
-- Menu rebuild
------------------------------------------------------------------------

local function menu_build(hash)
    local all = redis.call('HGETALL', hash)
    local nodes = {}
    for i = 1, #all, 2 do
        local id = all[i]
        local payload = string.match(all[i + 1], '^%d+|%d+|(.*)$')
        if payload and payload ~= '' then
            local parent, pos, visible, frag =
                string.match(payload, '^([^|]*)|(%-?%d+)|([01])|(.*)$')
            if parent and visible == '1' then
                nodes[id] = {parent = parent, pos = tonumber(pos), frag = frag}
            end
        end
    end
    local children = {}
    for id, n in pairs(nodes) do
        local p = n.parent
        if p ~= '' and not nodes[p] then
            p = nil -- orphan: its parent is deleted or hidden
        end
        if p then
            local list = children[p]
            if not list then
                list = {}
                children[p] = list
            end
            list[#list + 1] = id
        end
    end
    local function order(a, b)
        local na, nb = nodes[a], nodes[b]
        if na.pos ~= nb.pos then
            return na.pos < nb.pos
        end
        return a < b
    end
    local function render(parent, depth)
        local list = children[parent]
        if not list or depth > 32 then
            return '[]'
        end
        table.sort(list, order)
        local out = {}
        for i, id in ipairs(list) do
            out[i] = '{' .. nodes[id].frag .. ',"children":' .. render(id, depth + 1) .. '}'
        end
        return '[' .. table.concat(out, ',') .. ']'
    end
    return render('', 0)
end

------------------------------------------------------------------------
-- cachefleet_apply
------------------------------------------------------------------------

local function apply(keys, argv)
    if argv[1] ~= '1' then
        return redis.error_reply('ERR cachefleet_apply: unknown protocol ' .. tostring(argv[1]))
    end
    -- tomb and keep stay strings (see ms_sum); tomb_ms is tomb as a number.
    local tomb, keep = argv[2], argv[3]
    local tomb_ms = tonumber(tomb)
    if not tomb_ms or not tonumber(keep) then
        return redis.error_reply('ERR cachefleet_apply: TTLs that are not numbers')
    end
    local mttls = {}
    local applied, refused, denied = 0, 0, 0
    local k, i, n = 1, 4, #argv
    while i <= n do
        local op = argv[i]
        local key = keys[k]
        k = k + 1
        if op == 'W' then
            local ver, ts, ttl, value = argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]
            i = i + 5
            if warm(key, ver, ts, ttl, ms_sum(mttls, ttl, tomb_ms), value, keep, true) then
                applied = applied + 1
            else
                refused = refused + 1
            end
        elseif op == 'T' then
            local n = tonumber(argv[i + 1])
            local ver, ts, ttl, value = argv[i + 2], argv[i + 3], argv[i + 4], argv[i + 5]
            i = i + 6
            local changed = '0'
            for j = k, k + n - 1 do
                local g = redis.call('GET', marker_key(keys[j]))
                if g and newer(g, changed) then
                    changed = g
                end
            end
            k = k + n
            if newer(changed, ts) then
                xinval(key, changed, tomb)
                refused = refused + 1
            elseif warm(key, ver, ts, ttl, ms_sum(mttls, ttl, tomb_ms), value, keep, false) then
                applied = applied + 1
            else
                refused = refused + 1
            end
        elseif op == 'D' then
            local ver, ts = argv[i + 1], argv[i + 2]
            i = i + 3
            local vkey = marker_key(key)
            local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', tomb, 'GET')
            local v, t
            if old then
                v, t = string.match(old, '^(%d+) %d+ (%d+)$')
            end
            if v and newer(v, ver) then
                redis.call('SET', vkey, old, 'PX', keep)
                refused = refused + 1
            else
                if t and t ~= '0' then
                    redis.call('SET', vkey, ver .. ' ' .. ts .. ' ' .. t, 'PX', tomb)
                end
                redis.call('DEL', key)
                applied = applied + 1
            end
        elseif op == 'X' then
            local ts = argv[i + 1]
            i = i + 2
            if xinval(key, ts, tomb) then
                applied = applied + 1
            else
                refused = refused + 1
            end
        elseif op == 'G' then
            local ts = argv[i + 1]
            i = i + 2
            local members = redis.call('SMEMBERS', key)
            local dels = fresh_members(members, ts)
            denied = denied + del_foreign(dels)
            if #dels == #members then
                redis.call('DEL', key)
            else
                call_chunked('SREM', key, dels)
            end
            local vkey = marker_key(key)
            local cur = redis.call('GET', vkey)
            if not cur or newer(ts, cur) then
                redis.call('SET', vkey, ts, 'PX', tomb)
            end
            applied = applied + 1
        elseif op == 'A' or op == 'R' then
            local member, ver = argv[i + 1], argv[i + 2]
            local ttl, ttl_s = 0, nil
            if op == 'A' then
                ttl_s = argv[i + 3]
                ttl = tonumber(ttl_s)
                if not ttl then
                    return redis.error_reply('ERR cachefleet_apply: a TTL that is not a number')
                end
                i = i + 4
            else
                i = i + 3
            end
            if member == '' then
                return redis.error_reply('ERR cachefleet_apply: an empty member')
            end
            local mkey = members_key(key)
            if membership_newer(mkey, member, ver) then
                refused = refused + 1
            elseif op == 'A' then
                redis.call('SADD', key, member)
                redis.call('HSET', mkey, member, ver)
                extend_ttl(key, ttl, ttl_s)
                if ttl > 0 then
                    extend_ttl(mkey, ttl, ttl_s)
                else
                    -- As its set, which never expires (a remove or a
                    -- purge may have made the hash with a TTL).
                    redis.call('PERSIST', mkey)
                end
                applied = applied + 1
            else
                local fresh = redis.call('PTTL', mkey) == -2
                redis.call('SREM', key, member)
                redis.call('HSET', mkey, member, ver)
                if fresh then
                    redis.call('PEXPIRE', mkey, tomb)
                end
                applied = applied + 1
            end
        elseif op == 'F' then
            local ts, prefix = argv[i + 1], argv[i + 2]
            i = i + 3
            local members = redis.call('SMEMBERS', key)
            for j = 1, #members, 512 do
                local keys_, vkeys = {}, {}
                for m = j, math.min(j + 511, #members) do
                    local member_key = prefix .. members[m]
                    keys_[#keys_ + 1] = member_key
                    vkeys[#vkeys + 1] = marker_key(member_key)
                end
                local markers = redis.call('MGET', unpack(vkeys))
                local dels = {}
                for m = 1, #vkeys do
                    local v, w, t
                    if markers[m] then
                        v, w, t = string.match(markers[m], '^(%d+) (%d+) (%d+)$')
                    end
                    -- As X: a value written by an event newer than the
                    -- fan-out already reflects it and stays.
                    if not (v and newer(w, ts)) then
                        dels[#dels + 1] = keys_[m]
                        if v then
                            redis.call('SET', vkeys[m], v .. ' ' .. w .. ' ' .. max_str(t, ts), 'PX', tomb)
                        else
                            redis.call('SET', vkeys[m], '0 0 ' .. ts, 'PX', tomb)
                        end
                    end
                end
                if #dels > 0 then
                    redis.call('DEL', unpack(dels))
                end
            end
            local vkey = marker_key(key)
            local cur = redis.call('GET', vkey)
            if not cur or newer(ts, cur) then
                redis.call('SET', vkey, ts, 'PX', tomb)
            end
            applied = applied + 1
        elseif op == 'P' then
            local prefix, ver = argv[i + 1], argv[i + 2]
            i = i + 3
            local mkey = members_key(key)
            local purged = redis.call('HGET', mkey, '')
            if purged and newer(purged, ver) then
                refused = refused + 1
            else
                local all = redis.call('HGETALL', mkey)
                local fields, drop = {}, {}
                for j = 1, #all, 2 do
                    fields[all[j]] = all[j + 1]
                    if all[j] ~= '' and not newer(all[j + 1], ver) then
                        drop[#drop + 1] = all[j]
                    end
                end
                -- A member added by an event newer than the purge stays.
                local members = redis.call('SMEMBERS', key)
                local gone, dels = {}, {}
                for _, m in ipairs(members) do
                    local f = fields[m]
                    if not (f and newer(f, ver)) then
                        gone[#gone + 1] = m
                        dels[#dels + 1] = prefix .. m
                    end
                end
                denied = denied + del_foreign(dels)
                -- SREM of the last member removes the set.
                call_chunked('SREM', key, gone)
                -- The purge field first: the hash never empties on the
                -- way, so it keeps its TTL.
                redis.call('HSET', mkey, '', ver)
                call_chunked('HDEL', mkey, drop)
                if #all == 0 then
                    redis.call('PEXPIRE', mkey, tomb)
                end
                applied = applied + 1
            end
        elseif op == 'C' then
            local id, ver, ts, payload = argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]
            i = i + 5
            local cur = redis.call('HGET', key, id)
            local curver = cur and string.match(cur, '^(%d+)|')
            if curver and newer(curver, ver) then
                refused = refused + 1
            else
                redis.call('HSET', key, id, ver .. '|' .. ts .. '|' .. payload)
                applied = applied + 1
            end
        elseif op == 'M' then
            local hash, ttl = keys[k], argv[i + 1]
            k = k + 1
            i = i + 2
            redis.call('SET', key, menu_build(hash), 'PX', ttl)
            applied = applied + 1
        else
            return redis.error_reply('ERR cachefleet_apply: unknown operation ' .. tostring(op))
        end
    end
    if k ~= #keys + 1 then
        return redis.error_reply('ERR cachefleet_apply: ' .. #keys .. ' keys given, ' .. (k - 1) .. ' used')
    end
    return {applied, refused, denied}
end

------------------------------------------------------------------------
-- cachefleet_fill: the web tier's write
------------------------------------------------------------------------

-- FCALL cachefleet_fill 1+ntags key tag... value ttl_ms version read_us tomb_ms
-- Returns 1 when stored, 0 when refused because the cache knows of a newer
-- state than the one the web tier read.
local function fill(keys, argv)
    local key = keys[1]
    local value, ttl, ver, read = argv[1], tonumber(argv[2]), argv[3], argv[4]
    local tomb = tonumber(argv[5] or '3600000')
    -- Canonical decimals only: newer() compares lengths first, so a zero-
    -- padded read time would outrank every tag invalidation.
    if not value or not ttl or ttl <= 0 or not ver or not canonical(ver) or
        not read or not canonical(read) then
        return redis.error_reply('ERR cachefleet_fill: usage: key [tag...] value ttl_ms version read_us [tomb_ms]')
    end
    local vkey = marker_key(key)
    local v, w, t = read_marker(vkey)
    if v and (newer(v, ver) or newer(t, read)) then
        return 0
    end
    for j = 2, #keys do
        local tv = redis.call('GET', marker_key(keys[j]))
        if tv and newer(tv, read) then
            return 0
        end
    end
    local ttl_s = string.format('%d', ttl)
    redis.call('SET', key, value, 'PX', ttl_s)
    redis.call('SET', vkey, ver .. ' ' .. read .. ' ' .. (t or '0'), 'PX',
        string.format('%d', ttl + tomb))
    for j = 2, #keys do
        redis.call('SADD', keys[j], key)
        extend_ttl(keys[j], ttl, ttl_s)
    end
    return 1
end

local function version()
    return 'cachefleet 1'
end

redis.register_function('cachefleet_apply', apply)
redis.register_function('cachefleet_fill', fill)
redis.register_function{function_name = 'cachefleet_version', callback = version, flags = {'no-writes'}}
