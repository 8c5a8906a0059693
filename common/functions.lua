#!lua name=cachefleet
--[[
cachefleet's Redis function library (Redis 7 FUNCTION LOAD).

What it owns: every write the fleet makes to the cache, and the web tier's
fill.  The consumers load it at start and after every reconnect
(FUNCTION LOAD REPLACE), so a Redis restarted empty gets it back without a
consumer restart.  The C side that builds the calls is common/sink.c.

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
  invalidate(ver)  applied unless V > ver; leaves a tombstone marker;
  xinval(ts)       deletes unless the current value was written by an event
                   newer than ts (W > ts); raises T to ts;
  fill(ver, read)  (web tier) refused when V > ver, or when T or any tag's
                   marker is newer than the time the web tier read its data.
Versions and times are compared as decimal strings (no loss above 2^53).

cachefleet_apply packs a whole batch: KEYS holds every key in operation
order, ARGV holds "1" (protocol), the tombstone TTL in ms, the TTL in ms
that a marker put back after a refusal gets (longer than any value's TTL
plus the tombstone TTL), then for every operation its one-letter code
followed by its arguments:
  W key   ver ts ttl_ms value      versioned warm
  T key guard... n ver ts ttl_ms value
                                   guarded warm: a W that is also refused
                                   when one of the n guard sets (a role the
                                   user holds) changed after ts; the key is
                                   then invalidated as by X at that time
  D key   ver ts                   versioned invalidation (tombstone)
  X key   ts                       invalidation from another entity
  G tag   ts                       tag invalidation: members and tag deleted
  A set   member ttl_ms            index add (ttl 0: no expiry)
  R set   member                   index remove
  F set   ts key_prefix            X(key_prefix .. member, ts) for every
                                   member (deleted unless written by a newer
                                   event; its marker's T raised to ts, so a
                                   fill or warm from before ts is refused),
                                   and ts recorded in the set's marker
                                   {set}:v for the guarded warms (T)
  P set   key_prefix               delete key_prefix .. member per member,
                                   then the set
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

local function max_str(a, b)
    if newer(a, b) then
        return a
    end
    return b
end

local function marker_key(key)
    return '{' .. key .. '}:v'
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
-- one in one call; a refusal (rare) puts the old marker back.
local function warm(key, ver, ts, ttl, value, tomb, keep)
    local vkey = marker_key(key)
    local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', ttl + tomb, 'GET')
    local v, w, t
    if old then
        v, w, t = string.match(old, '^(%d+) (%d+) (%d+)$')
    end
    if v and (newer(v, ver) or newer(t, ts)) then
        redis.call('SET', vkey, old, 'PX', keep)
        return false
    end
    if t and t ~= '0' then
        redis.call('SET', vkey, ver .. ' ' .. ts .. ' ' .. t, 'PX', ttl + tomb)
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

local function extend_ttl(key, ttl_ms)
    if ttl_ms > 0 then
        local p = redis.call('PTTL', key)
        if p < ttl_ms then
            redis.call('PEXPIRE', key, ttl_ms)
        end
    end
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
    local tomb, keep = tonumber(argv[2]), tonumber(argv[3])
    local applied, refused, denied = 0, 0, 0
    local k, i, n = 1, 4, #argv
    while i <= n do
        local op = argv[i]
        local key = keys[k]
        k = k + 1
        if op == 'W' then
            local ver, ts, ttl, value = argv[i + 1], argv[i + 2], tonumber(argv[i + 3]), argv[i + 4]
            i = i + 5
            if warm(key, ver, ts, ttl, value, tomb, keep) then
                applied = applied + 1
            else
                refused = refused + 1
            end
        elseif op == 'T' then
            local n = tonumber(argv[i + 1])
            local ver, ts, ttl, value = argv[i + 2], argv[i + 3], tonumber(argv[i + 4]), argv[i + 5]
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
            elseif warm(key, ver, ts, ttl, value, tomb, keep) then
                applied = applied + 1
            else
                refused = refused + 1
            end
        elseif op == 'D' then
            local ver, ts = argv[i + 1], argv[i + 2]
            i = i + 3
            local vkey = marker_key(key)
            local old = redis.call('SET', vkey, ver .. ' ' .. ts .. ' 0', 'PX', tomb, 'GET')
            local v, w, t
            if old then
                v, w, t = string.match(old, '^(%d+) (%d+) (%d+)$')
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
            denied = denied + del_foreign(members)
            redis.call('DEL', key)
            local vkey = marker_key(key)
            local cur = redis.call('GET', vkey)
            if not cur or newer(ts, cur) then
                redis.call('SET', vkey, ts, 'PX', tomb)
            end
            applied = applied + 1
        elseif op == 'A' then
            local member, ttl = argv[i + 1], tonumber(argv[i + 2])
            i = i + 3
            redis.call('SADD', key, member)
            extend_ttl(key, ttl)
            applied = applied + 1
        elseif op == 'R' then
            local member = argv[i + 1]
            i = i + 2
            redis.call('SREM', key, member)
            applied = applied + 1
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
            local prefix = argv[i + 1]
            i = i + 2
            local members = redis.call('SMEMBERS', key)
            for j = 1, #members do
                members[j] = prefix .. members[j]
            end
            denied = denied + del_foreign(members)
            redis.call('DEL', key)
            applied = applied + 1
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
            local hash, ttl = keys[k], tonumber(argv[i + 1])
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
    if not value or not ttl or ttl <= 0 or not ver or not string.match(ver, '^%d+$') or
        not read or not string.match(read, '^%d+$') then
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
    redis.call('SET', key, value, 'PX', ttl)
    redis.call('SET', vkey, ver .. ' ' .. read .. ' ' .. (t or '0'), 'PX', ttl + tomb)
    for j = 2, #keys do
        redis.call('SADD', keys[j], key)
        extend_ttl(keys[j], ttl)
    end
    return 1
end

local function version()
    return 'cachefleet 1'
end

redis.register_function('cachefleet_apply', apply)
redis.register_function('cachefleet_fill', fill)
redis.register_function{function_name = 'cachefleet_version', callback = version, flags = {'no-writes'}}
