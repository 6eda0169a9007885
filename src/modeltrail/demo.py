"""``modeltrail demo``: the whole story on the real German Credit data, on the embedded trail.

classify → register datasets + data governance report (PII scan) → train two models in tracked runs
→ performance / fairness / explainability / robustness reports → gates (one candidate fails, one
passes) → four-eyes refusal, two approvals → deploy → serve decisions through the guard with the data
policy → review queue (accept / override) → labels → kill switch and fallback → checkpoint → verify →
reconstruct one decision with its inclusion proof.

Everything is library calls; the CLI command only prints. The same seed gives the same events apart
from timestamps, ids and signatures.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .audit.check import check as audit_check
from .errors import ApprovalError, ModeltrailError, ValidationError
from .events import Actor
from .trail import Trail, init, open_trail

if TYPE_CHECKING:
    from .runtime.guard import Decision

MARKER = ".modeltrail-demo"
SYSTEM = "credit-scoring"
LABEL = "credit_risk"
PROTECTED = ("sex", "age_band")
# Inputs the model may not see: protected attributes, their direct proxy, and the label.
EXCLUDED = {"sex", "age_band", "personal_status_sex", LABEL}

ALICE = Actor("alice", "data_scientist")
ALICE_AS_APPROVER = Actor("alice", "model_risk")
BOB = Actor("bob", "model_risk")
CAROL = Actor("carol", "compliance")
DAVE = Actor("dave", "auditor")
ERIN = Actor("erin", "ops")
PIPELINE = Actor("training-pipeline", "pipeline", "service")
SERVICE = Actor("scoring-service", "service", "service")


@dataclass
class DemoResult:
    """What the demo produced: folder, figures, and the reconstructed decision."""

    directory: Path
    trail_path: Path
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    gates: dict[str, bool] = field(default_factory=dict)
    deployed: str = ""
    decisions: int = 0
    routed_to_review: int = 0
    reviewed: int = 0
    overridden: int = 0
    labelled: int = 0
    fallback_decisions: int = 0
    monitoring: dict[str, Any] = field(default_factory=dict)
    verify_ok: bool = False
    audit_violations: int = -1
    reconstructed: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    served_sample: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    forgetting: dict[str, Any] = field(default_factory=dict)


Say = Callable[[str], None]


def load_german_credit() -> pd.DataFrame:
    """The packaged German Credit CSV (CC BY 4.0, see data/german_credit/LICENSE.md)."""
    with resources.files("modeltrail.data").joinpath("german_credit/german_credit.csv").open("rb") as fh:
        return pd.read_csv(fh)


def prepare_directory(directory: Path) -> None:
    """Create the demo folder, or reuse one made by an earlier demo; refuse any other non-empty folder."""
    if directory.exists():
        if not directory.is_dir():
            raise ValidationError(f"{directory} exists and is not a folder", field="--dir")
        entries = list(directory.iterdir())
        if entries and not (directory / MARKER).exists():
            raise ValidationError(
                f"{directory} is not empty and was not made by `modeltrail demo`; choose another --dir",
                field="--dir",
            )
        for e in entries:
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e)
            else:
                e.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by `modeltrail demo`; the folder is replaced when the demo runs again\n")


def _split(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    n_train, n_val = int(len(df) * 0.6), int(len(df) * 0.2)
    return (
        df.iloc[order[:n_train]].reset_index(drop=True),
        df.iloc[order[n_train : n_train + n_val]].reset_index(drop=True),
        df.iloc[order[n_train + n_val :]].reset_index(drop=True),
    )


def _features(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in EXCLUDED and c != "applicant_id"]


def _build_models(features: list[str], df: pd.DataFrame, seed: int) -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    nums = [c for c in features if c not in cats]

    def pre() -> ColumnTransformer:
        return ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), cats), ("num", StandardScaler(), nums)]
        )

    return {
        "credit-logreg": Pipeline([("pre", pre()), ("clf", LogisticRegression(max_iter=2000, C=0.5))]),
        "credit-gbm": Pipeline(
            [
                ("pre", pre()),
                (
                    "clf",
                    GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, random_state=seed),
                ),
            ]
        ),
    }


@contextmanager
def _step(say: Say, title: str) -> Iterator[None]:
    say(f"[bold cyan]▶ {title}[/bold cyan]")
    t0 = time.perf_counter()
    yield
    say(f"  [dim]done in {time.perf_counter() - t0:.2f} s[/dim]")


def run_demo(
    directory: str | Path = "modeltrail-demo",
    *,
    decisions: int = 20_000,
    seed: int = 7,
    say: Say | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    url: str | None = None,
) -> DemoResult:
    """Run the end-to-end demo in ``directory``; returns what was recorded and where.

    ``url`` puts the ledger in PostgreSQL (``postgresql://…?schema=NAME``); keys and blobs stay in
    ``directory``.
    """
    from .audit.reconstruct import reconstruct
    from .evidence.data_report import data_report
    from .evidence.evaluate import evaluate_model
    from .evidence.explain import DecisionExplainer
    from .evidence.record import record_report, write_index
    from .lineage.datasets import register_dataset
    from .lineage.models import register_model
    from .lineage.runs import trail_run
    from .registry import approve, deploy, evaluate_gate_for, record_classification, register_policy, suspend
    from .runtime.guard import guard as make_guard
    from .runtime.oversight import label_csv, review, review_queue

    if decisions < 10:
        raise ValidationError("expected at least 10 decisions", field="--decisions")
    say = say or (lambda _msg: None)
    started = time.perf_counter()
    root = Path(directory).resolve()
    prepare_directory(root)
    reports_dir = root / "reports"
    result = DemoResult(directory=root, trail_path=root / ".modeltrail")

    with _step(say, "Create the trail (SQLite ledger, blob store, Ed25519 signing key)"):
        trail = init(root, origin=f"modeltrail.demo/{SYSTEM}", checkpoint_every_events=5_000, url=url)
        data_pkg = resources.files("modeltrail.data")
        policy_text = data_pkg.joinpath("demo/policy.yaml").read_text(encoding="utf-8")
        answers_text = data_pkg.joinpath("demo/classification-answers.yaml").read_text(encoding="utf-8")
        (root / "policy.yaml").write_text(policy_text, encoding="utf-8")
        (root / "classification-answers.yaml").write_text(answers_text, encoding="utf-8")
        say(f"  trail {trail.path}  origin {trail.origin}")

    try:
        with _step(say, "Classify the system under the AI Act and register the policy"):
            import yaml

            answers = yaml.safe_load(answers_text)
            classification, _ = record_classification(trail, SYSTEM, answers, actor=CAROL)
            policy, _ = register_policy(trail, root / "policy.yaml", actor=CAROL)
            refs = ", ".join(r.article for r in classification.reasons[:3])
            say(f"  risk tier [bold]{classification.tier}[/bold] ({refs})")

        df = load_german_credit()
        rng = np.random.default_rng(seed)
        # A synthetic applicant number: the identifier the data policy pseudonymises at serving time.
        df.insert(0, "applicant_id", [f"APP-{n:06d}" for n in rng.choice(10**6, size=len(df), replace=False)])
        y = (df[LABEL] == "bad").astype(int)
        df[LABEL] = y
        train, val, test = _split(df, seed)
        features = _features(df)

        with _step(say, "Register dataset versions (content hashes) and the data governance report"):
            ds = {}
            for role, part in (("train", train), ("validation", val), ("test", test)):
                ds[role] = register_dataset(
                    trail,
                    part,
                    name=f"german-credit-{role}",
                    system=SYSTEM,
                    actor=ALICE,
                    role=role,
                    source="UCI Statlog German Credit (CC BY 4.0)",
                )
                say(f"  {ds[role].ref}  rows {len(part)}")
            # Art. 10 asks for the examination of the training, validation and testing data alike.
            for role, part in (("validation", val), ("test", test), ("train", train)):
                rep = data_report(part.drop(columns=["applicant_id"]), label=LABEL, protected=PROTECTED)
                record_report(trail, rep, subject=ds[role].ref, system=SYSTEM, actor=PIPELINE, out_dir=reports_dir)
            say(
                f"  missing rate {rep.metrics.get('data.missing_rate', 0):.3f}, "
                f"PII findings {int(rep.metrics.get('data.pii_findings', 0))}"
            )
            strongest = (rep.body.get("proxies") or {}).get("associations") or []
            if strongest:
                top_proxy = strongest[0]
                say(
                    f"  strongest proxy: {top_proxy['feature']} for {top_proxy['protected']}\n"
                    f"  ({top_proxy['measure']} {top_proxy['value']:.2f}, 1 = determines it; kept out of the model)"
                )

        with _step(say, "Train two candidates in tracked runs and register them"):
            candidates = _build_models(features, df, seed)
            versions = {}
            for name, model in candidates.items():
                with trail_run(
                    trail,
                    f"train-{name}",
                    system=SYSTEM,
                    actor=ALICE,
                    params={"model": name, "seed": seed, "features": len(features)},
                    datasets=[ds["train"], ds["validation"]],
                ) as run:
                    model.fit(train[features], train[LABEL])
                    from sklearn.metrics import roc_auc_score

                    val_auc = float(roc_auc_score(val[LABEL], model.predict_proba(val[features])[:, 1]))
                    run.log_metrics({"validation.roc_auc": val_auc})
                    mv = register_model(
                        trail,
                        model,
                        name=name,
                        system=SYSTEM,
                        actor=ALICE,
                        run=run,
                        datasets=[ds["train"], ds["validation"], ds["test"]],
                        training_data=train[features],
                    )
                versions[name] = (mv, model)
                say(f"  {mv.ref}  validation ROC AUC {val_auc:.3f}")

        with _step(say, "Evidence: performance, fairness (sex, age band), explainability, robustness"):
            for mv, model in versions.values():
                built = evaluate_model(
                    model,
                    test,
                    label=LABEL,
                    positive=1,
                    protected=PROTECTED,
                    features=features,
                    n_bootstrap=200,
                    seed=seed,
                    favourable=policy.favourable_outcome,
                    subject={"model": mv.ref, "dataset": ds["test"].ref},
                )
                perf, fair = built["performance"], built["fairness"]
                for r in built.values():
                    record_report(
                        trail,
                        r,
                        subject=mv.ref,
                        system=SYSTEM,
                        actor=PIPELINE,
                        out_dir=reports_dir,
                        refs=[ds["test"].ref],
                    )
                write_index(trail, mv.ref, reports_dir)
                say(
                    f"  {mv.ref}: ROC AUC {perf.metrics['performance.roc_auc']:.3f}, demographic parity "
                    f"difference {fair.metrics['fairness.demographic_parity_difference']:.3f}, equalized odds "
                    f"difference {fair.metrics['fairness.equalized_odds_difference']:.3f}"
                )

        with _step(say, "Policy gates for production"):
            passed_ref = None
            for mv, _model in versions.values():
                gate, _ = evaluate_gate_for(trail, mv.ref, "production", actor=PIPELINE)
                result.gates[mv.ref] = gate.passed
                failing = [c.name for c in gate.checks if not c.passed]
                verdict = "[green]PASS[/green]" if gate.passed else f"[red]FAIL[/red] ({', '.join(failing)})"
                say(f"  {mv.ref}: {verdict}")
                if gate.passed and passed_ref is None:
                    passed_ref = mv.ref
            if passed_ref is None:
                raise ModeltrailError("no candidate passed the production gate; the demo data or policy changed")

        with _step(say, "Human approval with the four-eyes rule"):
            try:
                approve(
                    trail, passed_ref, "production", actor=ALICE_AS_APPROVER, rationale="I trained it; it looks good"
                )
            except ApprovalError as exc:
                say(f"  alice (the registrant) is refused: [yellow]{exc}[/yellow]")
            approve(trail, passed_ref, "production", actor=BOB, rationale="Validation and fairness evidence reviewed")
            approve(trail, passed_ref, "production", actor=CAROL, rationale="Compliant with the credit policy")
            say("  bob (model_risk) and carol (compliance) approved")

        with _step(say, "Deploy to production"):
            deploy(trail, passed_ref, "production", actor=ERIN)
            result.deployed = passed_ref
            say(f"  {passed_ref} is live in production")

        with _step(say, f"Serve {decisions:,} decisions through the guard (data policy applied)"):
            serving = pd.concat([val, test], ignore_index=True)
            pick = rng.integers(0, len(serving), size=decisions)
            batch = serving.iloc[pick].reset_index(drop=True)
            rows = batch.drop(columns=[LABEL]).to_dict(orient="records")
            explainer = DecisionExplainer.fit(versions[passed_ref.split(":")[1].split("@")[0]][1], train[features])
            g = make_guard(
                trail, passed_ref, env="production", system=SYSTEM, policy=policy, actor=SERVICE, explainer=explainer
            )
            served: list[Decision] = []
            # Batches of 2,000 (at least four batches: the retention chapter purges the first one).
            chunk = min(2_000, max(1, -(-decisions // 4)))
            for i in range(0, decisions, chunk):
                part = rows[i : i + chunk]
                served += g.decide_many(part, subjects=[f"applicant:{r['applicant_id']}" for r in part])
                if progress is not None:
                    progress("decisions", min(i + chunk, decisions), decisions)
            g.flush() if hasattr(g, "flush") else None
            for d in served[-1:]:
                d.durable(timeout=30)
            result.decisions = len(served)
            sample = served[-1]  # the retention chapter later purges the first batch, as six months on
            result.served_sample = {"decision_id": sample.decision_id, "output": sample.output, "route": sample.route}
            # One explained decision, to show the per-decision explainer the runtime can log.
            top = explainer.explain(batch.loc[[0], features], top_k=3)
            say(f"  first decision {sample.decision_id}: output {sample.output}")
            factors = ", ".join(f"{name} {value:+.2f}" for name, value in top)
            say(f"  top factors ({explainer.units}, + towards 'bad'): {factors}")
            routed = [d for d in served if d.route == "review"]
            result.routed_to_review = len(routed)
            say(f"  {len(routed):,} low-confidence decisions routed to human review")

        with _step(say, "Human oversight: accept some, override some"):
            # The newest 40 pending decisions: the retention chapter later purges the first serving batch.
            queue = review_queue(trail, model=passed_ref)
            reviewed_ids: set[str] = set()
            for k, item in enumerate(queue[-40:]):
                reviewed_ids.add(item.decision_id)
                if k % 4 == 3:
                    flipped = 0 if item.output == 1 else 1
                    review(
                        trail,
                        item.decision_id,
                        actor=BOB,
                        override=flipped,
                        reason="Documented income offsets the short credit history",
                    )
                    result.overridden += 1
                else:
                    review(trail, item.decision_id, actor=BOB, accept=True, reason="Consistent with the file")
                result.reviewed += 1
            accepted = result.reviewed - result.overridden
            say(f"  bob reviewed {result.reviewed}: {accepted} accepted, {result.overridden} overridden with reasons")

        with _step(say, "Ground truth: post labels for part of the decisions"):
            lab = root / "labels.csv"
            n_lab = len(served) // 4
            with lab.open("w", encoding="utf-8") as fh:
                fh.write("decision_id,actual\n")
                for d, actual in zip(served[:n_lab], batch[LABEL].iloc[:n_lab], strict=True):
                    fh.write(f"{d.decision_id},{int(actual)}\n")
            result.labelled = len(label_csv(trail, lab, actor=PIPELINE))
            say(f"  {result.labelled:,} labels recorded")

        with _step(say, "Post-market monitoring: drift arrives, the alert routes decisions to review, an incident"):
            from .monitor.demo import run_story

            result.monitoring = run_story(
                trail, g, estimator=versions[passed_ref.split(":")[1].split("@")[0]][1], features=features,
                model=passed_ref, system=SYSTEM, reference=val.drop(columns=[LABEL]),
                reference_labels=val[LABEL], rows=rows, subjects=[f"applicant:{r['applicant_id']}" for r in rows],
                served=len(served), owner=ALICE, reviewer=BOB, protected=PROTECTED, say=say,
            )  # fmt: skip

        with _step(say, "Kill switch: erin suspends the model; the guard falls back to human review"):
            suspend(
                trail,
                passed_ref.split("@")[0].removeprefix("model:"),
                "production",
                actor=ERIN,
                reason="Drift alarm from the monitoring team",
            )
            deadline = time.monotonic() + 5
            while g.suspension is None and time.monotonic() < deadline:
                time.sleep(0.05)
            after = g.decide_many(rows[:5], subjects=[f"applicant:{r['applicant_id']}" for r in rows[:5]])
            for d in after:
                d.durable(timeout=30)
            result.fallback_decisions = sum(1 for d in after if d.route == "fallback")
            say(f"  {result.fallback_decisions} of 5 new decisions went to the fallback (human review)")
            g.close()

        with _step(say, "Checkpoint and verify the whole ledger"):
            cp = trail.checkpoint()
            res = trail.verify()
            result.verify_ok = res.ok
            say(
                f"  checkpoint size {cp.size} root {cp.root.hex()[:16]}…; verify: "
                + ("[green]OK[/green]" if res.ok else f"[red]FAILED[/red] {res.first_problem}")
            )
            audit = audit_check(trail)  # every governance rule replayed from the ledger (modeltrail audit check)
            result.audit_violations = len(audit.violations) + sum(audit.truncated.values())
            say("  audit check: " + ("[green]no rule broken[/green]" if audit.ok else f"[red]{audit.kinds()}[/red]"))

        with _step(say, "Reconstruct one decision from the ledger"):
            # A reviewed one from a late batch: the retention chapter below purges the first batch.
            target = next((d for d in reversed(served) if d.decision_id in reviewed_ids), served[-1])
            rec = reconstruct(trail, target.decision_id)
            result.reconstructed = rec.to_dict()
            say(f"  decision {target.decision_id} (seq {rec.decision.seq}) by {rec.decision.payload.get('model')}")
            say(
                f"  trained in {rec.run.subject if rec.run else '?'} on {len(rec.datasets)} dataset versions; "
                f"{len(rec.approvals)} approvals; review: {', '.join(e.type for e in rec.oversight) or 'none'}"
            )
            say(
                "  inclusion proof against the signed checkpoint: "
                + ("[green]verified[/green]" if rec.proof_verified else "[red]not verified[/red]")
            )

        with _step(say, "Documents from evidence: every kind for the deployed model, each citing the ledger"):
            from .documents import generate_all

            docs = generate_all(trail, passed_ref, actor=CAROL, out_dir=root / "documents")
            result.documents = [str(p.relative_to(root)) for d in docs for p in d.files.values()]
            open_items = {k for d in docs for k in d.open_items}
            say(
                f"  {len(docs)} documents ({len(result.documents)} files) in {root / 'documents'}; "
                f"{len(open_items)} statements await a person (`modeltrail docs answer`)"
            )
        with _step(say, "Tabletop audit: a random decision reconstructed, an audit bundle exported and verified"):
            from .audit.exercise import audit_exercise

            ex = audit_exercise(trail, system=SYSTEM, auditor=DAVE, bundle=root / "audit-bundle.zip", seed=seed)
            result.audit = ex.to_dict()
            for line in ex.lines():
                say("  " + line)

        with _step(say, "Forgetting lawfully: a retention rule, an access request, an erasure, verify still green"):
            result.forgetting = _forgetting(trail, served, rows, say)

        # Purged events keep their type and place: they are counted too.
        result.counts = dict(sorted(Counter(e.type for e in trail.events(include_purged=True)).items()))
        result.files = sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".modeltrail" not in p.parts
        )
    finally:
        trail.close()
    result.seconds = time.perf_counter() - started
    return result


def _forgetting(trail: Trail, served: list[Decision], rows: list[dict[str, Any]], say: Say) -> dict[str, Any]:
    """The retention chapter: purge the first serving batch as if six months had passed, answer one
    applicant's access request, erase another applicant, and verify the ledger."""
    from datetime import datetime, timedelta

    from .registry.policy_store import current_policy
    from .retention.erasure import erase
    from .retention.export import export_subject
    from .retention.purge import apply as retention_apply
    from .retention.rules import rule_for

    rule = rule_for(current_policy(trail, SYSTEM), "inference.decision")
    if rule is None:
        raise ValidationError("the demo policy must keep inference.* under a retention rule", field="retention")
    # "Now" is six months after the first batch was served: that batch has expired, later decisions not.
    first = trail.get_event(served[0].durable(30).seq)
    when = rule.period.add_to(datetime.fromisoformat(first.ts.replace("Z", "+00:00"))) + timedelta(microseconds=1)
    purge = retention_apply(trail, actor=CAROL, now=when)
    say(
        f"  retention {rule.pattern} {rule.period} as of {when.date()}: {purge.purged} events purged "
        f"({purge.bytes_removed:,} payload bytes), recorded as retention.purged"
    )
    asked, erased = str(rows[1]["applicant_id"]), str(rows[0]["applicant_id"])
    answer = export_subject(trail, asked, actor=CAROL, fmt="json")
    n = len(answer.document["decisions"])
    say(f"  access request for {asked}: {n} decisions with model version, main reasons and human actions")
    gone = erase(trail, erased, actor=CAROL, reason="erasure request received by the demo's DPO")
    say(
        f"  erased {erased}: {gone.decisions} decisions unlinked, {gone.keys_shredded} data keys shredded, "
        f"{gone.blobs_deleted} sealed blobs deleted; subject.erased names nobody"
    )
    res = trail.verify()
    say(
        f"  verify: {'[green]OK[/green]' if res.ok else '[red]FAILED[/red]'} with {res.purged_count} purged leaves "
        "reported as purged"
    )
    return {
        "purged": purge.purged,
        "access_decisions": n,
        "erased_decisions": gone.decisions,
        "keys_shredded": gone.keys_shredded,
        "verify_ok": res.ok,
        "purged_leaves": res.purged_count,
    }


def reopen(directory: str | Path) -> Trail:
    """Open the trail of a demo folder."""
    return open_trail(Path(directory) / ".modeltrail")
