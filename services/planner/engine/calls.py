"""Calls between components: found, made explicit, exposed and admitted.

Every call is a `Reference` (caller, variable, callee, port) derived from the callers'
`serviceRef` env values. A native spec may still write a sibling's name literally
(`DATABASE_HOST: shop-db`); such literals become service references first, because a
literal holds only under the release name it was written for. Then each callee exposes
the ports it is called on (a Service for databases and caches that published nothing),
and its NetworkPolicy admits exactly its callers on those ports.
"""

from __future__ import annotations

from collections.abc import Callable

from services.planner.engine.network import http_port
from services.planner.engine.record import Recorder
from shared.hosts import HostFinder, component_aliases
from shared.models.plan import ChartPlan, NetworkPolicyPlan, Peer, Reference, ServicePlan
from shared.models.requirements import ChartRequirements, Component, Port, ServiceRef

Decide = Callable[[str | None, str, str, str], None]
Note = Callable[[str, str, str], None]


def explicit(req: ChartRequirements, decide: Decide) -> ChartRequirements:
    """The requirements with literal sibling hosts in env turned into service references."""
    finder = HostFinder(component_aliases([c.name for c in req.components], req.name))
    components = []
    for comp in req.components:
        env = dict(comp.env)
        for var, value in comp.env.items():
            if not isinstance(value, str):
                continue
            matches = [m for m in finder.find(value, var) if m.component != comp.name]
            if not matches:
                continue
            parts: list[str] = []
            last = 0
            for match in matches:
                parts += [value[last : match.start], "{host:" + match.component + "}"]
                last = match.end
            parts.append(value[last:])
            first = matches[0]
            env[var] = ServiceRef(
                serviceRef=first.component, port=first.port, format="".join(parts)
            )
            decide(
                comp.name,
                "reference",
                f"{var} -> " + ", ".join(m.component for m in matches),
                f"{value!r} names a component of this chart; its host is rendered from the "
                "Service name at install, so the link holds under any release name.",
            )
        components.append(comp.model_copy(update={"env": env}) if env != comp.env else comp)
    return req.model_copy(update={"components": components})


def references(req: ChartRequirements) -> list[Reference]:
    """Every (caller, variable, callee, port) in the components' env and config files."""
    result = []
    for comp in req.components:
        calls = [(v, r.links()) for v, r in sorted(comp.env.items()) if isinstance(r, ServiceRef)]
        calls += [(f"file {f.path}", f.links()) for f in comp.configFiles]
        for var, links in calls:
            for callee, port in links:
                result.append(Reference(caller=comp.name, variable=var, callee=callee, port=port))
    return result


def expose_called_ports(
    spec: Component, calls: list[Reference], decide: Decide, note: Note
) -> None:
    """Give a called component the ports it is called on, so its Service exposes them.

    Runs after the image's known ports were filled in, so only unknown ports are added.
    """
    if not calls:
        return
    for call in calls:
        if call.port is None:
            continue
        known = next((p for p in spec.ports if p.port == call.port), None)
        if known is None:
            spec.ports = [*spec.ports, Port(name=f"tcp-{call.port}", port=call.port)]
            decide(
                spec.name,
                "ports",
                f"{call.port} (added)",
                f"{call.caller} calls it on {call.port} ({call.variable}), which the input "
                "did not publish; the Service exposes it.",
            )
        elif not known.expose:
            known.expose = True
            decide(
                spec.name,
                "ports",
                f"{call.port} exposed",
                f"{call.caller} calls it on {call.port} ({call.variable}).",
            )
    if not any(p.expose for p in spec.ports):
        callers = ", ".join(sorted({f"{c.caller} ({c.variable})" for c in calls}))
        note(
            f"components.{spec.name}.ports",
            f"{spec.name} is called by {callers} but has no port the chart knows of, so it "
            f"gets no Service; add its port to the spec (ports:) or the serviceRef (port:)",
            "warning",
        )


def peers(spec: Component, calls: list[Reference], dependents: list[str]) -> list[Peer]:
    """Who may connect: callers on the (container) ports they call; dependents on every port."""
    name = spec.name
    target = {p.servicePort or p.port: p.port for p in spec.ports}
    ports: dict[str, set[int]] = {}
    anyport: set[str] = set()
    for call in calls:  # a component that calls itself (advertised hosts) is admitted too
        if call.port is None:
            anyport.add(call.caller)
        else:
            ports.setdefault(call.caller, set()).add(target.get(call.port, call.port))
    for dep in dependents:
        if dep != name and dep not in ports:
            anyport.add(dep)
    result = [Peer(component=c) for c in sorted(anyport)]
    result += [
        Peer(component=c, ports=sorted(p)) for c, p in sorted(ports.items()) if c not in anyport
    ]
    return sorted(result, key=lambda p: p.component)


def plan_network_policy(
    spec: Component,
    service: ServicePlan | None,
    calls: list[Reference],
    dependents: list[str],
    rec: Recorder,
) -> NetworkPolicyPlan:
    """Default deny; the callers on their ports; the ingress controller while an Ingress is on."""
    netpol = NetworkPolicyPlan(allowFrom=peers(spec, calls, dependents))
    if not service:
        rec.decide(
            spec.name,
            "networkPolicy",
            "deny all ingress",
            "Nothing listens, so nothing needs to reach it.",
        )
        return netpol
    who = (
        ", ".join(
            p.component + (" on " + "/".join(map(str, p.ports)) if p.ports else "")
            for p in netpol.allowFrom
        )
        or "no sibling"
    )
    extra = (
        " and the ingress controller while its Ingress is on"
        if http_port(spec) or spec.ingress
        else ""
    )
    rec.decide(
        spec.name,
        "networkPolicy",
        f"from {who}{extra}",
        "Default deny; only components that call it (found in their env, or depends_on) may "
        "connect, on the ports they call.",
    )
    return netpol


def note_calls_to_disabled(req: ChartRequirements, calls: list[Reference], note: Note) -> None:
    """A deployed component that calls one that is off (an inactive profile) needs a decision."""
    enabled = {c.name: c.enabled for c in req.components}
    seen: set[tuple[str, str]] = set()
    for call in calls:
        if enabled.get(call.caller) and not enabled.get(call.callee, True):
            if (call.caller, call.callee) in seen:
                continue
            seen.add((call.caller, call.callee))
            variables = sorted(
                {c.variable for c in calls if (c.caller, c.callee) == (call.caller, call.callee)}
            )
            note(
                f"components.{call.caller}.env",
                f"{call.caller} calls {call.callee} ({', '.join(variables)}), which is off "
                f"(its profiles are not active): set {call.callee}'s enabled=true, or point "
                f"{call.caller}.refEnv at a service of your own",
                "warning",
            )


def rewire(plan: ChartPlan) -> ChartPlan:
    """A reviewed plan with its calls derived again from the components' (edited) env.

    A reviewer may add a serviceRef or a config file that calls a sibling; its callee then
    exposes that port behind a Service, and its NetworkPolicy admits the new caller on it.
    Nothing the reviewer set is taken away: peers and ports are only added.
    """
    specs = ChartRequirements.model_validate(
        {
            "name": plan.name,
            "components": [c.spec.dump() for c in plan.components],
            "secrets": [s.dump() for s in plan.secrets],
        }
    )
    calls = references(specs)
    components = []
    for cp in plan.components:
        spec = cp.spec.model_copy(deep=True)
        mine = [c for c in calls if c.callee == spec.name]
        expose_called_ports(spec, mine, lambda *_: None, lambda *_: None)
        service = cp.service
        if service is None and cp.kind.value not in ("Job", "CronJob"):
            service = ServicePlan() if any(p.expose for p in spec.ports) else None
        allow = [p.model_copy() for p in cp.networkPolicy.allowFrom]
        have = {p.component: p for p in allow}
        for peer in peers(spec, mine, []):
            old = have.get(peer.component)
            if old is None:
                allow.append(peer)
            elif old.ports and peer.ports:
                old.ports = sorted(set(old.ports) | set(peer.ports))
            elif old.ports and not peer.ports:
                old.ports = []
        policy = cp.networkPolicy.model_copy(update={"allowFrom": allow})
        components.append(
            cp.model_copy(update={"spec": spec, "service": service, "networkPolicy": policy})
        )
    return plan.model_copy(update={"components": components, "references": calls})
