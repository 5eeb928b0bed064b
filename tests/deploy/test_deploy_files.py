"""Static checks of the deployment files: docker-compose.yml, deploy/Dockerfile, deploy/k8s,
deploy/prometheus and .dockerignore.

Nothing here builds or starts a container (there may be no Docker engine); the files are
parsed and held against the code they run: the settings it requires, the modules its commands
name, the search attributes it registers, the routes its probes call.

"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import functools
import importlib
import importlib.util
import inspect
import io
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from core.settings import Settings
from core.temporal import dev_server_flags

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S_DIR = ROOT / "deploy" / "k8s"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
LOCK_FILE = ROOT / "requirements.lock"

K8S_NAMESPACE = "tempwork"
# Files of deploy/k8s that `kubectl apply -k` must not apply (see kustomization.yaml).
K8S_APPLIED_BY_HAND = {"credentials.template.yaml", "migrate-job.yaml", "backup-cronjob.yaml"}

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
SANDBOX_ENV_PREFIX = "TEMPWORK_SANDBOX_"


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


def load_yaml_documents(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# --- the files ------------------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def our_services() -> dict[str, dict[str, Any]]:
    """Compose services that run the image built from deploy/Dockerfile."""
    return {name: s for name, s in services().items() if "build" in s}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def runs_module(command: list[str], module: str) -> bool:
    return command[:3] == ["python", "-m", module]


def flag_value(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} not in {command}"
    return command[command.index(flag) + 1]


def api_port() -> str:
    return flag_value(command_of(services()["api"]), "--port")


@functools.cache
def k8s_documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in load_yaml_documents(path.read_text()):
            assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
            docs.append((path.name, doc))
    return tuple(docs)


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_documents() if doc.get("kind") == kind]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in k8s_kind("Deployment") + k8s_kind("Job"):
        yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def k8s_our_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs():
        for container in spec["containers"]:
            yield f"{name}/{container['name']}", container


@functools.cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    return tuple(instructions)


def docker_args(args: str) -> list[str]:
    return [str(a) for a in json.loads(args)] if args.startswith("[") else args.split()


def copy_sources() -> list[str]:
    """What the Dockerfile COPYs/ADDs from the build context (not from other stages)."""
    sources: list[str] = []
    for keyword, args in dockerfile():
        if keyword not in ("COPY", "ADD"):
            continue
        parts = docker_args(args)
        flags = [p for p in parts if p.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        sources += [p for p in parts if not p.startswith("--")][:-1]
    return sources


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def settings_env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def required_settings() -> list[str]:
    return sorted(n for n, f in Settings.model_fields.items() if f.is_required())


def secret_settings() -> list[str]:
    return sorted(n for n, f in Settings.model_fields.items() if f.annotation is SecretStr)


# Where a process listens rather than what it reaches: loopback is the safe default, and only
# the process that listens overrides it (the worker, checked by the worker tests below).
BIND_ADDRESS_SETTINGS = {"worker_health_host"}


def loopback_default_settings() -> list[str]:
    """Addresses that default to 127.0.0.1: inside a container that is the container itself."""
    return sorted(
        n
        for n, f in Settings.model_fields.items()
        if isinstance(f.default, str)
        and "127.0.0.1" in f.default
        and n not in BIND_ADDRESS_SETTINGS
    )


def route_paths(module: str) -> set[str]:
    """Every path a module's router serves, through the routers it includes."""

    def walk(router: Any, prefix: str) -> Iterator[str]:
        for route in router.routes:
            included = getattr(route, "include_context", None)  # FastAPI's included router
            if included is not None:
                yield from walk(included.included_router, prefix + included.prefix)
            elif hasattr(route, "path"):
                yield prefix + route.path

    return set(walk(importlib.import_module(module).router, ""))


def graceful_shutdown_seconds() -> float:
    """The worker's graceful_shutdown_timeout, read from workers/main.py."""
    tree = ast.parse((ROOT / "workers" / "main.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "graceful_shutdown_timeout":
            call = node.value
            assert isinstance(call, ast.Call) and ast.unparse(call.func) == "timedelta"
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            return timedelta(**kwargs).total_seconds()
    raise AssertionError("workers/main.py no longer sets graceful_shutdown_timeout")


def duration_seconds(text: str) -> float:
    """A Compose duration such as `30s` or `1m30s`."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


# --- YAML agrees with a real parser where one is installed ------------------------------------


# --- docker-compose.yml -----------------------------------------------------------------------


def test_compose_is_spec_format_with_the_whole_stack() -> None:
    assert "version" not in compose(), "the Compose spec has no `version:` key"
    expected = {"postgres", "temporal", "temporal-setup", "temporal-ui", "migrate"}
    expected |= {"sandbox", "worker", "api", "prometheus"}
    assert expected <= set(services())
    for name, service in our_services().items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (ROOT / service["build"]["context"] / "deploy" / "Dockerfile").is_file()


def test_compose_dependencies_exist_and_can_be_met() -> None:
    graph: dict[str, list[str]] = {}
    for name, service in services().items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        graph[name] = list(depends)
        for target, spec in depends.items():
            assert target in services(), f"{name} depends on unknown service {target}"
            condition = spec.get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in services()[target], f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                # A restart policy would rerun a one-shot forever instead of letting it finish.
                assert services()[target].get("restart", "no") in ("no", "on-failure"), target
            else:
                assert condition == "service_started", f"{name}: unknown condition {condition}"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in graph[name]:
            visit(target, (*path, name))

    for name in graph:
        visit(name, ())


def test_compose_app_services_get_every_setting_they_need() -> None:
    required = [settings_env(n) for n in required_settings()]
    assert required, "Settings has no required fields any more: revisit this test"
    secrets = {settings_env(n) for n in secret_settings()}
    must_override = [settings_env(n) for n in loopback_default_settings()]
    known = {settings_env(n) for n in Settings.model_fields}
    app_services = {
        n: s for n, s in our_services().items() if not runs_module(command_of(s), "sandbox")
    }
    assert {"api", "worker", "migrate"} <= set(app_services)
    for name, service in app_services.items():
        env = environment_of(service)
        missing = [var for var in required if not env.get(var)]
        assert not missing, f"{name} lacks required settings {missing}"
        for var in secrets:
            # Required interpolation: Compose stops with the message instead of passing "".
            assert re.fullmatch(rf"\$\{{{var}:\?[^}}]+\}}", env[var]), f"{name}: {var}"
        unknown = [var for var in env if var.startswith(ENV_PREFIX) and var not in known]
        assert not unknown, f"{name} sets variables Settings does not read: {unknown}"
        loopback = [var for var in must_override if "127.0.0.1" in env.get(var, "127.0.0.1")]
        # API_PUBLIC_URL/TEMPORAL_UI_URL are followed by the host's browser: loopback is right.
        loopback = [v for v in loopback if not v.endswith(("_PUBLIC_URL", "_UI_URL"))]
        assert not loopback, f"{name} would reach its own container at {loopback}"


def test_compose_sandbox_is_wired_to_the_app() -> None:
    from sandbox.__main__ import SandboxSettings

    api_env = environment_of(services()["api"])
    sandbox = next(s for s in our_services().values() if runs_module(command_of(s), "sandbox"))
    env = environment_of(sandbox)
    known = {SANDBOX_ENV_PREFIX + n.upper() for n in SandboxSettings.model_fields}
    assert set(env) <= known, f"unknown sandbox variables {set(env) - known}"
    # The sandbox accepts the API's key and signs webhooks with the API's secret.
    assert env[SANDBOX_ENV_PREFIX + "STRIPE_API_KEY"] == api_env[settings_env("stripe_api_key")]
    assert (
        env[SANDBOX_ENV_PREFIX + "STRIPE_WEBHOOK_SECRET"]
        == api_env[settings_env("stripe_webhook_secret")]
    )
    shared = {
        "STRIPE_API_KEY": "stripe_api_key",
        "SENDGRID_API_KEY": "sendgrid_api_key",
        "TWILIO_ACCOUNT_SID": "twilio_account_sid",
        "TWILIO_AUTH_TOKEN": "twilio_auth_token",
        "TWILIO_VERIFY_SERVICE_SID": "twilio_verify_service_sid",
        "CHECKS_API_KEY": "checks_api_key",
        "CHECKS_WEBHOOK_SECRET": "checks_webhook_secret",
    }
    for sandbox_name, setting in shared.items():
        assert env[SANDBOX_ENV_PREFIX + sandbox_name] == api_env[settings_env(setting)], setting
    assert SANDBOX_ENV_PREFIX + "SENDGRID_SIGNING_KEY" in env  # pairs with the app's public key
    command = command_of(sandbox)
    assert (
        flag_value(command, "--twilio-phone-number") == api_env[settings_env("twilio_from_number")]
    )
    paths = route_paths("api.webhooks")
    for provider in ("stripe", "twilio", "sendgrid", "checks"):
        webhook = f"http://api:{api_port()}/webhooks/{provider}"
        assert flag_value(command, f"--{provider}-webhook-url") == webhook
        assert f"/webhooks/{provider}" in paths
    for app in ("api", "worker"):
        for provider in ("stripe", "sendgrid", "twilio", "checks"):
            base = environment_of(services()[app])[settings_env(f"{provider}_api_base")]
            assert base == f"http://sandbox:{flag_value(command, '--port')}/{provider}", app


def test_compose_registers_exactly_our_search_attributes() -> None:
    flags = dev_server_flags()
    expected = dict(flag.split("=") for flag in flags[1::2])
    script = "\n".join(command_of(services()["temporal-setup"]))
    registered = dict(
        re.findall(r"\b([A-Z][A-Za-z]+):(Keyword|Int|Bool|Text|Double|Datetime)\b", script)
    )
    assert registered == expected
    assert "already exists" in script, "re-running the setup must not fail"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def env_recipe_variables() -> set[str]:
    """What the .env recipe named at the top of docker-compose.yml prints."""
    from devstack import compose_env

    header = COMPOSE_FILE.read_text().split("\nname:", 1)[0]
    assert "python -m devstack.compose_env >> .env" in header, "the .env recipe is gone"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        compose_env.main()
    return {line.split("=", 1)[0] for line in out.getvalue().splitlines()}


def test_compose_interpolation_is_intended_and_documented() -> None:
    recipe = env_recipe_variables()
    for text in _strings(compose()):
        references = re.findall(r"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}", text)
        rest = re.sub(r"\$\{[A-Z0-9_]+(?::?[?-][^}]*)?\}", "", text.replace("$$", ""))
        # A lone `$name` would be replaced by Compose (usually with ""), not reach the shell.
        assert "$" not in rest, f"unescaped $ (write $$ for the shell) in {text[:80]!r}"
        for var in references:
            assert var in recipe, f"${{{var}}} is not produced by the .env recipe at the top"


def test_compose_publishes_ports_on_loopback_only() -> None:
    published = 0
    for name, service in services().items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert isinstance(port, str), f"{name}: quote ports ({port!r})"
                assert port.startswith("127.0.0.1:"), f"{name}: {port} is open to the network"
    assert published


def test_compose_worker_gets_time_to_shut_down_gracefully() -> None:
    worker = next(s for s in our_services().values() if runs_module(command_of(s), "workers.main"))
    grace = duration_seconds(worker.get("stop_grace_period", "10s"))
    assert grace >= graceful_shutdown_seconds() + 5


def test_compose_healthchecks_probe_real_routes() -> None:
    paths = route_paths("api.routes.health")
    test = " ".join(services()["api"]["healthcheck"]["test"])
    assert any(f"127.0.0.1:{api_port()}{path}'" in test for path in paths), test


# --- no secrets, pinned images ------------------------------------------------------------------


def deployment_texts() -> list[tuple[str, str]]:
    paths = [COMPOSE_FILE, DOCKERFILE, DOCKERIGNORE, PROMETHEUS_FILE, *K8S_DIR.glob("*.yaml")]
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in paths]


def test_database_urls_name_a_driver_the_image_installs() -> None:
    """The SQLAlchemy driver in compose's and the Secret template's database URL must be in
    requirements.lock (what the image installs): compose once named asyncpg, a dev-only
    dependency, and the app could not have connected."""
    lock = (ROOT / "requirements.lock").read_text()
    template = (K8S_DIR / "credentials.template.yaml").read_text()
    for text in (COMPOSE_FILE.read_text(), template):
        drivers = set(re.findall(r"postgresql\+(\w+)://", text))
        assert drivers, "no database URL found"
        for driver in drivers:
            assert re.search(rf"^{driver}(\[[^]]*\])?==", lock, re.M), driver


def test_no_secret_values_anywhere() -> None:
    patterns = {
        "Stripe key": r"\b[sr]k_(live|test)_[A-Za-z0-9]{6,}",
        "webhook secret": r"\bwhsec_[A-Za-z0-9]{6,}",
        "password in a URL": r"://[^/\s:@]+:(?!\$\{|<)[^@\s/]+@",  # ${VAR} or <placeholder>
        "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    }
    for name, text in deployment_texts():
        for what, pattern in patterns.items():
            found = re.search(pattern, text)
            assert not found, f"{name}: {what} {found.group(0) if found else ''!r}"
        for token in re.findall(r"[A-Za-z0-9+/_=-]{24,}", text):
            classes = [re.search(c, token) for c in ("[a-z]", "[A-Z]", "[0-9]")]
            assert not all(classes), f"{name}: {token!r} looks like a random secret"


SECRET_NAME = re.compile(r"SECRET|_KEY$|PASSWORD|_PWD$|TOKEN")


def test_secret_variables_are_references_not_values() -> None:
    for name, service in services().items():
        for var, value in environment_of(service).items():
            if SECRET_NAME.search(var):
                literal = re.sub(r"\$\{[^}]*\}", "", value)
                assert not literal, f"{name}: {var} has a literal value"
    for doc in k8s_kind("Secret"):
        assert "data" not in doc, "the Secret is a template: stringData with empty values"
        assert all(v == "" for v in doc["stringData"].values()), "fill from a secret manager"
    for doc in k8s_kind("ConfigMap"):
        leaked = [key for key in doc["data"] if SECRET_NAME.search(key)]
        assert not leaked, f"secrets belong in the Secret, not the ConfigMap: {leaked}"


def assert_pinned(image: str, where: str) -> None:
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    assert tag or digest, f"{where}: {image} is not pinned to a tag"
    assert tag != "latest", f"{where}: {image} uses :latest"
    assert "$" not in image, f"{where}: {image} is not a concrete tag"


def test_images_are_pinned() -> None:
    for name, service in services().items():
        assert_pinned(service["image"], f"compose {name}")
    for where, container in k8s_our_containers():
        assert_pinned(container["image"], f"k8s {where}")
    args = {}
    for keyword, rest in dockerfile():
        if keyword == "ARG" and "=" in rest:
            key, _, default = rest.partition("=")
            args[key] = default
        if keyword == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            assert_pinned(image, "Dockerfile FROM")
            assert image.startswith("python:3.11"), "the project requires Python 3.11"


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_builds_from_the_hashed_lock_and_runs_as_non_root() -> None:
    keywords = [k for k, _ in dockerfile()]
    assert keywords.count("FROM") >= 2, "multi-stage: no build tooling in the runtime image"
    users = [args for keyword, args in dockerfile() if keyword == "USER"]
    assert users, "no USER: the app would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(args for keyword, args in dockerfile() if keyword == "RUN")
    assert re.search(r"pip install [^&;]*--require-hashes[^&;]*-r \S*requirements\.lock", runs)
    text = DOCKERFILE.read_text()
    assert not re.search(r"index-url|find-links|https?://", text), "no registry addresses"
    envs = " ".join(args for keyword, args in dockerfile() if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in envs


def test_dockerfile_copies_the_app_and_nothing_secret() -> None:
    sources = [s.rstrip("/") for s in copy_sources()]
    forbidden = [s for s in sources if s in (".", "*") or s.startswith((".env", ".data", ".git"))]
    assert not forbidden, f"COPY of {forbidden} could bake secrets or local data into the image"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        ignored = [p for p in dockerignore_patterns() if fnmatch.fnmatch(source, p)]
        assert not ignored, f"COPY {source} is excluded by .dockerignore {ignored}"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.rstrip("*") for p in packages["packages"]["find"]["include"]}
    assert wanted <= set(sources), f"packages not copied: {wanted - set(sources)}"
    assert {"alembic.ini", "requirements.lock"} <= set(sources)


def test_dockerignore_keeps_the_context_small_and_clean() -> None:
    patterns = set(dockerignore_patterns())
    assert {".env", ".data", ".venv", ".git", "tests"} <= patterns


# --- every command runs a module that exists ---------------------------------------------------


def all_commands() -> list[tuple[str, list[str]]]:
    commands = [(f"compose {n}", command_of(s)) for n, s in our_services().items()]
    commands += [(f"k8s {n}", [str(c) for c in c_["command"]]) for n, c_ in k8s_our_containers()]
    cmd = [args for keyword, args in dockerfile() if keyword == "CMD"]
    assert cmd, "the Dockerfile has no default CMD"
    commands.append(("Dockerfile CMD", docker_args(cmd[-1])))
    return commands


def test_commands_run_modules_that_exist() -> None:
    locked = set(re.findall(r"^([a-z0-9_.-]+)==", LOCK_FILE.read_text(), flags=re.MULTILINE))
    copied = {s.rstrip("/") for s in copy_sources()}
    for where, command in all_commands():
        assert command[:2] == ["python", "-m"], f"{where}: run modules with `python -m`"
        modules = [command[2]]
        if command[2] == "uvicorn":
            target = next(a for a in command[3:] if ":" in a)
            module, _, attribute = target.partition(":")
            modules.append(module)
            source = inspect.getsource(importlib.import_module(module))
            assert re.search(rf"^{attribute}\b\s*=|[\"']{attribute}[\"']", source, re.M), where
        if command[2] == "alembic":
            assert (ROOT / "alembic.ini").is_file()
        for module in modules:
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.origin, f"{where}: no module {module}"
            if spec.submodule_search_locations:  # a package runs its __main__
                assert importlib.util.find_spec(f"{module}.__main__"), f"{where}: {module}"
            top = module.split(".")[0]
            if (ROOT / top).is_dir() or (ROOT / f"{top}.py").is_file():
                assert top in copied, f"{where}: {top} is not copied into the image"
            else:
                assert top.replace("_", "-") in locked, f"{where}: {top} is not in the lock"


# --- Kubernetes ----------------------------------------------------------------------------------


def test_k8s_documents_are_well_formed() -> None:
    kinds = {doc["kind"] for _, doc in k8s_documents()}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service"} <= kinds
    assert {"PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"} <= kinds
    for name, doc in k8s_documents():
        assert doc.get("apiVersion") and doc.get("kind"), name
        if doc["kind"] == "Kustomization":
            continue
        assert doc["metadata"]["name"], name
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == K8S_NAMESPACE, name


def test_k8s_kustomization_applies_all_but_the_hand_applied_files() -> None:
    (kustomization,) = k8s_kind("Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - K8S_APPLIED_BY_HAND


def test_k8s_workloads_are_probed_limited_and_non_root() -> None:
    health = route_paths("api.routes.health")
    uid = next(a for k, a in reversed(dockerfile()) if k == "USER").split(":")[0]
    for name, spec in pod_specs():
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert str(context["runAsUser"]) == uid, f"{name}: runAsUser differs from the image"
        assert spec.get("enableServiceLinks") is False, f"{name}: service env vars leak in"
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where} {bound}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            ports = {p.get("name") for p in container.get("ports", [])}
            ports |= {p["containerPort"] for p in container.get("ports", [])}
            if not ports:
                continue  # no HTTP endpoint to probe (the worker: see worker.yaml)
            for probe in ("readinessProbe", "livenessProbe"):
                http = container.get(probe, {}).get("httpGet")
                assert http, f"{where} serves HTTP but has no {probe}"
                assert http["path"] in health, f"{where} {probe}: no route {http['path']}"
                assert http["port"] in ports, f"{where} {probe}: unknown port {http['port']}"
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", where
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", where


def test_k8s_settings_come_from_the_configmap_and_secret() -> None:
    (config,) = k8s_kind("ConfigMap")
    (secret,) = k8s_kind("Secret")
    assert all(isinstance(v, str) for v in config["data"].values()), "ConfigMap values: strings"
    known = {settings_env(n) for n in Settings.model_fields}
    provided = set(config["data"]) | set(secret["stringData"])
    assert provided <= known, f"variables Settings does not read: {provided - known}"
    needed = required_settings() + loopback_default_settings()
    assert {settings_env(n) for n in needed} <= provided
    assert set(secret["stringData"]) >= {settings_env(n) for n in secret_settings()}
    # Production talks to real Stripe, never a sandbox.
    assert settings_env("stripe_api_base") not in provided
    for name, spec in pod_specs():
        for container in spec["containers"]:
            refs = container.get("envFrom", [])
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in refs, name
            assert {"secretRef": {"name": secret["metadata"]["name"]}} in refs, name


def test_k8s_runs_neither_temporal_nor_the_sandbox() -> None:
    for where, container in k8s_our_containers():
        assert "temporal" not in container["image"], f"{where}: Temporal runs outside k8s"
        assert not runs_module(container["command"], "sandbox"), f"{where}: no sandbox"


def deployment(component: str) -> dict[str, Any]:
    for doc in k8s_kind("Deployment"):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") == component:
            return doc
    raise AssertionError(f"no {component} Deployment")


def selects(selector: dict[str, str], doc: dict[str, Any]) -> bool:
    return selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()


def test_k8s_api_is_highly_available_and_scraped() -> None:
    api = deployment("api")
    assert api["spec"]["replicas"] >= 2
    assert selects(api["spec"]["selector"]["matchLabels"], api)
    (container,) = api["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]
    (service,) = k8s_kind("Service")
    assert selects(service["spec"]["selector"], api)
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    pdbs = [
        p
        for p in k8s_kind("PodDisruptionBudget")
        if selects(p["spec"]["selector"]["matchLabels"], api)
    ]
    assert pdbs, "no PodDisruptionBudget covers the API"
    (hpa,) = k8s_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] in route_paths("api.routes.health")


def test_k8s_worker_shuts_down_gracefully() -> None:
    worker = deployment("worker")
    assert worker["spec"]["replicas"] >= 2
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= graceful_shutdown_seconds() + 10


def test_k8s_migration_job_runs_alembic_once() -> None:
    (job,) = k8s_kind("Job")
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "alembic", "upgrade", "head"]
    images = {c["image"] for _, c in k8s_our_containers()}
    assert len(images) == 1, f"API, worker and migrations must run one release: {images}"


def test_k8s_backup_dumps_the_database_nightly_with_the_servers_own_tools() -> None:
    (cron,) = k8s_kind("CronJob")
    minute, hour, *rest = cron["spec"]["schedule"].split()
    assert len(rest) == 3 and rest == ["*", "*", "*"], "nightly"
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert cron["spec"]["concurrencyPolicy"] == "Forbid", "never two dumps at once"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] and job["backoffLimit"] >= 1
    spec = job["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    uid = next(a for k, a in reversed(dockerfile()) if k == "USER").split(":")[0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert str(spec["securityContext"]["runAsUser"]) == uid
    (container,) = spec["containers"]
    # PostgreSQL's image for its pg_dump, of the major version compose runs (a pg_dump older
    # than the server refuses to dump it).
    image = container["image"]
    assert_pinned(image, "k8s backup")
    assert image.split(":")[0] == services()["postgres"]["image"].split(":")[0] == "postgres"
    major = lambda i: i.split(":")[1].split(".")[0]  # noqa: E731
    assert major(image) == major(services()["postgres"]["image"])
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Only the database URL from the Secret, not every provider key.
    assert "envFrom" not in container
    (secret,) = k8s_kind("Secret")
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    assert refs == [{"name": secret["metadata"]["name"], "key": settings_env("database_url")}]
    assert settings_env("database_url") in secret["stringData"]
    script = " ".join(container["command"] + container["args"])
    dump = re.search(r"pg_dump (.*)", script)
    assert dump, "the job runs pg_dump"
    assert "--format=custom" in dump.group(1) and "--no-password" in dump.group(1)
    assert "pg_restore --list" in script, "the dump is checked readable"
    # The dump goes to the mounted volume (the root filesystem is read-only), and that volume
    # is the claim defined beside the CronJob.
    (mount,) = container["volumeMounts"]
    assert f"{mount['mountPath']}/" in script
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    claims = {c["metadata"]["name"] for c in k8s_kind("PersistentVolumeClaim")}
    assert volume["persistentVolumeClaim"]["claimName"] in claims


# --- Prometheus ----------------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_and_temporal() -> None:
    config = load_yaml(PROMETHEUS_FILE.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["tempwork-api"]
    assert api["metrics_path"] in route_paths("api.routes.health")
    assert api["static_configs"][0]["targets"] == [f"api:{api_port()}"]
    endpoint = environment_of(services()["temporal"])["PROMETHEUS_ENDPOINT"]
    temporal_target = "temporal:" + endpoint.rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [temporal_target]
    mounts = services()["prometheus"]["volumes"]
    source = str(PROMETHEUS_FILE.relative_to(ROOT))
    assert f"./{source}:/etc/prometheus/prometheus.yml:ro" in mounts


# --- observability: the worker's endpoint, alert rules, dashboard ---------------------------------

ALERTS_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "tempwork.json"
# Inside a container the worker must listen on every interface: probes come to the pod's IP.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def worker_paths() -> set[str]:
    from workers.health import WorkerEndpoint

    return set(WorkerEndpoint.ROUTES)


def test_k8s_worker_is_probed_and_scraped_on_its_health_port() -> None:
    worker = deployment("worker")
    template = worker["spec"]["template"]
    (container,) = template["spec"]["containers"]
    (port,) = container["ports"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # Bound where the kubelet and Prometheus reach it, on the port the pod declares.
    assert env[settings_env("worker_health_host")] == ALL_INTERFACES
    assert env[settings_env("worker_health_port")] == str(port["containerPort"])
    probes = {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/live",
    }
    for probe, path in probes.items():
        http = container[probe]["httpGet"]
        assert http["path"] == path and path in worker_paths(), probe
        assert http["port"] in (port["name"], port["containerPort"]), probe
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] in worker_paths()


def test_compose_worker_is_healthchecked_and_scraped() -> None:
    worker = next(s for s in our_services().values() if runs_module(command_of(s), "workers.main"))
    env = environment_of(worker)
    port = env[settings_env("worker_health_port")]
    assert env[settings_env("worker_health_host")] == ALL_INTERFACES
    test = " ".join(worker["healthcheck"]["test"])
    assert f"'http://127.0.0.1:{port}/health/ready'" in test
    config = load_yaml(PROMETHEUS_FILE.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["tempwork-worker"]["metrics_path"] in worker_paths()
    assert jobs["tempwork-worker"]["static_configs"][0]["targets"] == [f"worker:{port}"]


def test_prometheus_loads_the_alert_rules_compose_mounts() -> None:
    config = load_yaml(PROMETHEUS_FILE.read_text())
    mounts = services()["prometheus"]["volumes"]
    source = str(ALERTS_FILE.relative_to(ROOT))
    (rule_file,) = config["rule_files"]
    assert f"./{source}:{rule_file}:ro" in mounts


def test_alert_rules_are_well_formed() -> None:
    rules = load_yaml(ALERTS_FILE.read_text())
    seen: set[str] = set()
    jobs = {job["job_name"] for job in load_yaml(PROMETHEUS_FILE.read_text())["scrape_configs"]}
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            assert name not in seen, f"two rules named {name}"
            seen.add(name)
            assert rule["labels"]["severity"] in ("page", "ticket"), name
            assert rule["annotations"]["summary"], name
            if "for" in rule:
                duration_seconds(rule["for"])
            # The jobs a rule names exist in the scrape config.
            for job in re.findall(r'job="([^"]+)"', rule["expr"]):
                assert job in jobs, f"{name}: no scrape job {job}"
            # Every worker replica exports the same business figures: never sum them.
            assert not re.search(
                r"sum[^()]*\(\s*tempwork_(contracts|escrow|needs_support)", rule["expr"]
            ), name
    assert len(seen) >= 10


def test_grafana_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == datasource, panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]
