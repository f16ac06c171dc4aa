#!/usr/bin/env python3
"""Writes the bundled example's agent logs into examples/data/instances/, in each tool's real
on-disk format, at the paths each tool uses inside an xnai instance.

The output is committed; this script documents how it was made and regenerates it
(deterministic: fixed seed, fixed dates). Two weeks of work ending 2026-11-28 18:00 UTC, the
`--as-of` instant of the README's first command:

- claude/max      Claude Code sessions, every response streamed as 2-3 lines
- codex/pro       Codex rollouts with token_count events and rate_limits (5 h and weekly)
- opencode/work   OpenCode message files
- copilot/octo_one  Copilot CLI session-state events with session.shutdown metrics
- cline/default   a Cline task's ui_messages.json
"""
import json
import os
import random
import shutil
import uuid
from datetime import datetime, timedelta, timezone

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "instances")
END = datetime(2026, 11, 28, 18, 0, tzinfo=timezone.utc)
rng = random.Random(20261128)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def work_times(day, n, start_h=9, end_h=19):
    """n sorted instants on `day` between start_h and end_h (never after END)."""
    base = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    ts = sorted(
        base + timedelta(seconds=rng.randint(start_h * 3600, end_h * 3600 - 1)) for _ in range(n)
    )
    return [t for t in ts if t <= END]


def claude():
    home = os.path.join(ROOT, "claude", "max", "claude", "projects", "-home-dev-src-shop")
    day = END - timedelta(days=13)
    while day.date() <= END.date():
        session = uid()
        lines = []
        n = 6 if day.weekday() >= 5 else 14
        times = work_times(day, n)
        if day.date() == END.date():
            # This afternoon's burst opens the 5-hour window that is still running.
            times = work_times(day, 22, 14, 18)
        parent = None
        for t in times:
            u = uid()
            lines.append({
                "parentUuid": parent, "isSidechain": False, "userType": "external",
                "cwd": "/home/dev/src/shop", "sessionId": session, "version": "2.1.197",
                "gitBranch": "main", "type": "user",
                "message": {"role": "user", "content": "continue with the checkout tests"},
                "uuid": u, "timestamp": iso(t),
            })
            parent = u
            msg = "msg_01" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789") for _ in range(22))
            req = "req_011C" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789") for _ in range(20))
            usage = {
                "input_tokens": rng.randint(3, 40),
                "cache_creation_input_tokens": rng.randint(800, 9000),
                "cache_read_input_tokens": rng.randint(40000, 150000),
                "output_tokens": 0,
                "service_tier": "standard",
            }
            final = rng.randint(150, 2500)
            chunks = [max(1, final // 3), final] if rng.random() < 0.5 else [1, final // 2, final]
            for i, out in enumerate(chunks):
                t2 = t + timedelta(seconds=4 + 3 * i, milliseconds=rng.randint(0, 999))
                u2 = uid()
                lines.append({
                    "parentUuid": parent, "isSidechain": False, "userType": "external",
                    "cwd": "/home/dev/src/shop", "sessionId": session, "version": "2.1.197",
                    "gitBranch": "main",
                    "message": {
                        "id": msg, "type": "message", "role": "assistant",
                        "model": "claude-sonnet-4-5-20250929",
                        "content": [{"type": "text", "text": "Running the tests now."}],
                        "stop_reason": None if i < len(chunks) - 1 else "end_turn",
                        "stop_sequence": None,
                        "usage": dict(usage, output_tokens=out),
                    },
                    "requestId": req, "type": "assistant", "uuid": u2, "timestamp": iso(t2),
                })
                parent = u2
        if lines:
            write(os.path.join(home, session + ".jsonl"),
                  "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines))
        day += timedelta(days=1)


def codex():
    base = os.path.join(ROOT, "codex", "pro", "codex", "sessions")
    day = END - timedelta(days=4)
    weekly = 38.0
    while day.date() <= END.date():
        times = work_times(day, 9)
        if not times:
            day += timedelta(days=1)
            continue
        sid = uid()
        start = times[0] - timedelta(minutes=1)
        path = os.path.join(base, f"{day:%Y}", f"{day:%m}", f"{day:%d}",
                            f"rollout-{start:%Y-%m-%dT%H-%M-%S}-{sid}.jsonl")
        recs = [{"timestamp": iso(start), "type": "session_meta", "payload": {
            "id": sid, "timestamp": iso(start), "cwd": "/home/dev/src/shop",
            "originator": "codex_cli_rs", "cli_version": "0.171.0", "source": "cli"}},
            {"timestamp": iso(start), "type": "turn_context", "payload": {
                "cwd": "/home/dev/src/shop", "approval_policy": "on-request",
                "sandbox_policy": {"type": "workspace-write"}, "model": "gpt-5.5",
                "summary": "auto"}}]
        total = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
                 "reasoning_output_tokens": 0, "total_tokens": 0}
        window_start = times[0]
        primary = 0.0
        for i, t in enumerate(times):
            last = {"input_tokens": rng.randint(9000, 40000), "cached_input_tokens": 0,
                    "output_tokens": rng.randint(200, 3000), "reasoning_output_tokens": 0}
            last["cached_input_tokens"] = int(last["input_tokens"] * rng.uniform(0.5, 0.9))
            last["reasoning_output_tokens"] = int(last["output_tokens"] * 0.3)
            last["total_tokens"] = last["input_tokens"] + last["output_tokens"]
            for k in total:
                total[k] += last[k]
            if t - window_start > timedelta(hours=5):
                window_start, primary = t, 0.0
            primary += rng.uniform(6, 11)
            weekly += rng.uniform(0.4, 0.8)
            if day.date() == END.date() and i == len(times) - 1:
                primary = 93.0
            recs.append({"timestamp": iso(t), "type": "event_msg", "payload": {
                "type": "user_message", "message": "fix the failing checkout test", "images": []}})
            recs.append({"timestamp": iso(t + timedelta(seconds=40)), "type": "event_msg", "payload": {
                "type": "token_count",
                "info": {"total_token_usage": dict(total), "last_token_usage": last,
                         "model_context_window": 258400},
                "rate_limits": {
                    "limit_id": "codex", "limit_name": None,
                    "primary": {"used_percent": round(min(primary, 99.0), 1), "window_minutes": 300,
                                "resets_at": int((window_start + timedelta(hours=5)).timestamp())},
                    "secondary": {"used_percent": round(weekly, 1), "window_minutes": 10080,
                                  "resets_at": int(datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc).timestamp())},
                    "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
                    "plan_type": "pro"}}})
        write(path, "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in recs))
        day += timedelta(days=1)


def opencode():
    base = os.path.join(ROOT, "opencode", "work", "data", "opencode", "storage", "message")
    day = END - timedelta(days=8)
    n = 0
    while day.date() <= END.date():
        ses = "ses_" + uid().replace("-", "")[:26]
        for t in work_times(day, 7):
            n += 1
            created = int(t.timestamp() * 1000)
            msg = {
                "id": f"msg_{created:x}{n:04d}", "sessionID": ses, "role": "assistant",
                "time": {"created": created, "completed": created + rng.randint(4000, 60000)},
                "parentID": f"msg_{created - 1000:x}{n:04d}", "modelID": "gemini-3-pro",
                "providerID": "google", "mode": "build", "path": {"cwd": "/home/dev/src/shop",
                                                                   "root": "/home/dev/src/shop"},
                "cost": 0, "tokens": {"input": rng.randint(2000, 9000), "output": rng.randint(300, 2500),
                                      "reasoning": rng.randint(0, 800),
                                      "cache": {"read": rng.randint(0, 4000), "write": 0}},
            }
            write(os.path.join(base, ses, msg["id"] + ".json"), json.dumps(msg, indent=2) + "\n")
        day += timedelta(days=1)


def copilot():
    base = os.path.join(ROOT, "copilot", "octo_one", "copilot", "session-state")
    for day, reqs in [(datetime(2026, 11, 10, tzinfo=timezone.utc), 17),
                      (datetime(2026, 11, 19, tzinfo=timezone.utc), 15),
                      (datetime(2026, 11, 27, tzinfo=timezone.utc), 12)]:
        sid = uid()
        t = day + timedelta(hours=10)
        evs = [{"type": "session.start", "id": uid(), "timestamp": iso(t),
                "data": {"sessionId": sid, "copilotVersion": "1.0.9", "startTime": iso(t)}}]
        evs.append({"type": "user.message", "id": uid(), "timestamp": iso(t + timedelta(minutes=1)),
                    "data": {"content": "refactor the cart service"}})
        end = t + timedelta(hours=2)
        evs.append({"type": "session.shutdown", "id": uid(), "timestamp": iso(end), "data": {
            "modelMetrics": {"claude-sonnet-4.5": {
                "usage": {"inputTokens": reqs * 21000, "outputTokens": reqs * 900,
                          "cacheReadTokens": reqs * 15000, "cacheWriteTokens": 0},
                "requests": {"count": reqs, "cost": reqs}}}}})
        write(os.path.join(base, sid, "events.jsonl"),
              "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in evs))


def cline():
    t0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
    task = str(int(t0.timestamp() * 1000))
    msgs = [{"ts": int(t0.timestamp() * 1000), "type": "say", "say": "task",
             "text": "Add input validation to the signup form"}]
    t = t0
    for i in range(6):
        t += timedelta(seconds=rng.randint(20, 90))
        req = {"request": "<task>\nAdd input validation to the signup form\n</task>",
               "tokensIn": rng.randint(800, 3000), "tokensOut": rng.randint(200, 900),
               "cacheWrites": rng.randint(0, 6000), "cacheReads": rng.randint(0, 20000)}
        req["cost"] = round(req["tokensIn"] * 3e-6 + req["tokensOut"] * 15e-6
                            + req["cacheWrites"] * 3.75e-6 + req["cacheReads"] * 0.3e-6, 6)
        msgs.append({"ts": int(t.timestamp() * 1000), "type": "say", "say": "api_req_started",
                     "text": json.dumps(req)})
        msgs.append({"ts": int(t.timestamp() * 1000) + 5000, "type": "say", "say": "text",
                     "text": "Updated the validator."})
    write(os.path.join(ROOT, "cline", "default", "cline", "data", "tasks", task, "ui_messages.json"),
          json.dumps(msgs, indent=1) + "\n")


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    claude()
    codex()
    opencode()
    copilot()
    cline()
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o600)
    print(f"wrote {ROOT}")
