"""What LLM mode costs: model calls, tokens and wall-clock overhead over the offline engine.

A scripted model (the fake OpenAI server, sleeping --latency seconds per call) plays a typical
workflow: the planner writes todos, asks the researcher subagent about one image, answers with
the engine's plan plus one change; the generator validates, makes one edit, and summarises.
Offline and agentic runs of each example are measured side by side in one process (after a
warm-up run), through the real langchain-openai client.

    .venv/bin/python bench/agents.py [--latency 0.05] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.generator.agent import improve_chart  # noqa: E402
from services.generator.engine import generate_chart  # noqa: E402
from services.planner.agent import plan_with_agent  # noqa: E402
from services.planner.engine import plan_chart  # noqa: E402
from services.planner.intake import intake  # noqa: E402
from services.validator.engine import validate_chart  # noqa: E402
from shared.llm import LLMSettings, init_model  # noqa: E402
from shared.models.requirements import ChartRequirements  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply, text, tool_call  # noqa: E402

EXAMPLES = ["shop.yaml", "queue-worker.yaml", "inference.yaml"]


def script(req: ChartRequirements) -> list[Reply]:
    """The scripted turns of one workflow (planner, then generator)."""
    plan = plan_chart(req).dump()
    first = plan["components"][0]
    first["replicas"] = max(first["replicas"], 1)
    plan["decisions"].append(
        {
            "component": first["spec"]["name"],
            "topic": "review",
            "choice": "kept",
            "reason": "Scripted model: engine plan accepted.",
        }
    )
    image = req.components[0].image or "nginx"
    return [
        tool_call("write_todos", {"todos": [{"content": "research", "status": "in_progress"}]}),
        tool_call(
            "task",
            {
                "description": f"What does {image} need?",
                "subagent_type": "best-practices-researcher",
            },
        ),
        tool_call("lookup_image", {"image": image}),
        text(f"{image}: plan from the requirements"),
        tool_call("ChartPlan", plan),
        tool_call("validate_chart", {}),
        tool_call(
            "edit_file",
            {
                "file_path": "/README.md",
                "old_string": f"# {req.name}\n",
                "new_string": f"# {req.name}\n\nReviewed by the generation agent.\n",
            },
        ),
        text("Validation is clean."),
    ]


def offline(source: Path, out: Path) -> float:
    """The offline engine: intake, plan, generate, validate."""
    start = time.perf_counter()
    taken = intake(source.read_bytes(), base_dir=source.parent, name=source.stem)
    plan = plan_chart(taken.requirements, notes=taken.notes)
    validate_chart(generate_chart(plan, out, force=True).chart_dir)
    return time.perf_counter() - start


def agentic(source: Path, out: Path, fake: FakeOpenAI, model: Any) -> tuple[float, bool]:
    """LLM mode: intake, planning agent, engine chart, generation agent (which validates)."""
    taken = intake(source.read_bytes(), base_dir=source.parent, name=source.stem)
    fake.script = script(taken.requirements)
    fake.requests.clear()
    start = time.perf_counter()
    plan = plan_with_agent(taken.requirements, model, notes=taken.notes)
    chart = generate_chart(plan, out, force=True).chart_dir
    result = improve_chart(chart, plan, model)
    return time.perf_counter() - start, result.report.passed


def main() -> None:
    """Print one row per example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per model call")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with FakeOpenAI(latency=args.latency) as fake, tempfile.TemporaryDirectory() as tmp:
        model = init_model(
            "openai:gpt-fake",
            LLMSettings(openai_base_url=fake.base_url),
            environ={"OPENAI_API_KEY": "sk-bench"},
        )
        print(f"scripted model: {args.latency * 1000:.0f} ms a call; median of {args.runs} runs")
        print(
            f"{'example':<20} {'calls':>5} {'prompt tok':>10} {'compl tok':>9} "
            f"{'offline ms':>10} {'agent ms':>9} {'overhead':>8} {'valid':>5}"
        )
        for name in EXAMPLES:
            source = ROOT / "examples" / name
            out = Path(tmp) / name
            offline(source, out / "warm")
            agentic(source, out / "warm-agent", fake, model)
            off, agent, ok = [], [], True
            for _ in range(args.runs):
                off.append(offline(source, out / "offline"))
                before = (fake.stats.calls, fake.stats.prompt_tokens, fake.stats.completion_tokens)
                seconds, passed = agentic(source, out / "agent", fake, model)
                agent.append(seconds)
                ok = ok and passed
            calls = (
                fake.stats.calls - before[0],
                fake.stats.prompt_tokens - before[1],
                fake.stats.completion_tokens - before[2],
            )
            o, a = statistics.median(off), statistics.median(agent)
            print(
                f"{name:<20} {calls[0]:>5} {calls[1]:>10} {calls[2]:>9} "
                f"{o * 1000:>10.0f} {a * 1000:>9.0f} {a / o:>7.1f}x {'yes' if ok else 'NO':>5}"
            )
        print("tokens are the fake's estimate (4 characters a token) of what the client sent")


if __name__ == "__main__":
    main()
