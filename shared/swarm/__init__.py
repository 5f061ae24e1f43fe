"""The one runtime the three swarm services share; they differ only in their graph.

A swarm service is a FastStream `NatsBroker` with one durable JetStream pull consumer on
`<prefix>.<swarm>.requested`, a LangGraph subgraph compiled with the shared Postgres
checkpointer, and a small ASGI app (`/health`, `/readyz`, `/metrics`). For every request:

1. parse `Event[SwarmRequest]`; unparseable -> dead letter (+ `<swarm>.failed` if a workflow
   id can be read), ack;
2. under an advisory lock on the thread `{workflow_id}:{swarm}:{attempt}`, look at the
   thread: finished -> the stored result; unfinished -> resume (`ainvoke(None)`); none -> start;
3. publish `<swarm>.completed` (Nats-Msg-Id = the event id) and only then ack.

Errors are classified into `ErrorContext`: transient infrastructure errors are naked with a
delay so JetStream redelivers; deliberate refusals (`AutopilotError`) fail at once, bad input
also to the dead-letter subject (unless it asks a human: `details.escalate`); anything else
is retried until the last delivery, then dead-lettered as poison. Tests can make a service
SIGKILL itself right after one node's checkpoint is written (`AUTOPILOT_FAULT=<service>:<node>`,
once per marker file).

Modules: `settings` (SwarmSettings), `metrics` (SwarmMetrics), `nodes` (what graph nodes
use: context, state, `swarm_node`, artifact loading; file trees are `shared.files`), `errors`
(what is read from a failed message; classification itself is `shared.errors.classify`),
`service` (SwarmService: consumer, graph runner, HTTP side), `app` (process entry: `serve`,
`run_service`).
"""
