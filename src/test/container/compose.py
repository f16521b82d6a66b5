#!/usr/bin/python3
"""Follows a docker-compose.yml with podman, as `docker compose` does, for the container test.

podman-compose 1.0.3 (Debian 12) starts services without waiting for depends_on conditions, so the
agent would start before the deployer has deployed the contract. This follows the file itself:
it builds the images, creates the project's network and volumes, and starts the services in
dependency order, waiting for each condition (service_started, service_healthy by running the
service's healthcheck at its interval, service_completed_successfully by the exit status).
A key it does not know stops it, so the file is followed as written or not at all.

  compose.py -f FILE -p PROJECT build|up|down|ps

Environment: the file's ${VAR:-default} come from the environment. GFCOMPOSE_RUNTIME sets the
OCI runtime of every container (the test's Docker-rules wrapper); GFCOMPOSE_BUILD_ARGS adds
arguments to every podman build (this machine's egress-proxy CA for package clients).
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

import yaml

KNOWN_KEYS = {"image", "build", "command", "entrypoint", "environment", "ports", "volumes", "cap_add",
              "cap_drop", "devices", "healthcheck", "restart", "depends_on", "security_opt", "read_only",
              "tmpfs", "user", "secrets", "working_dir", "stop_grace_period", "init"}

LABEL = "com.docker.compose.project"


def log(message):
    print(f"compose: {message}", flush=True)


def interpolate(value):
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def one(match):
        if match.group(0) == "$$":
            return "$"
        name, op, default = match.group(1) or match.group(4), match.group(2), match.group(3)
        current = os.environ.get(name)
        if op == ":-":
            return current if current else default
        if op == "-":
            return current if current is not None else default
        if op in (":?", "?"):
            if not current:
                sys.exit(f"compose: {name} is required: {default}")
            return current
        return current or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, value)


def duration(text, default):
    if text is None:
        return default
    total = 0.0
    for amount, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", str(text)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def podman(*args, check=True, capture=False):
    result = subprocess.run(["podman", *args], text=True,
                            stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    if check and result.returncode != 0:
        sys.exit(f"compose: podman {' '.join(args[:3])} ... failed ({result.returncode}): "
                 f"{(result.stderr or '').strip()[-2000:]}")
    return result


class Project:

    def __init__(self, file, name):
        self.file = os.path.abspath(file)
        self.dir = os.path.dirname(self.file)
        self.name = name
        with open(self.file) as f:
            self.spec = interpolate(yaml.safe_load(f))
        self.services = self.spec.get("services", {})
        for service, body in self.services.items():
            unknown = set(body) - KNOWN_KEYS
            if unknown:
                sys.exit(f"compose: service {service} uses {sorted(unknown)}, which this runner does not follow")
        self.network = f"{name}_default"

    def container(self, service):
        return f"{self.name}_{service}_1"

    def depends(self, service):
        depends = self.services[service].get("depends_on") or {}
        if isinstance(depends, list):
            return {d: "service_started" for d in depends}
        return {d: (c or {}).get("condition", "service_started") for d, c in depends.items()}

    def order(self):
        done, ordered = set(), []

        def visit(service, path):
            if service in done:
                return
            if service in path:
                sys.exit(f"compose: depends_on cycle through {service}")
            for dependency in self.depends(service):
                visit(dependency, path + [service])
            done.add(service)
            ordered.append(service)

        for service in self.services:
            visit(service, [])
        return ordered

    def image(self, service):
        body = self.services[service]
        return body.get("image") or f"{self.name}_{service}"

    def build(self):
        built = set()
        extra = shlex.split(os.environ.get("GFCOMPOSE_BUILD_ARGS", ""))
        for service in self.order():
            body = self.services[service]
            if "build" not in body or self.image(service) in built:
                continue
            build = body["build"] if isinstance(body["build"], dict) else {"context": body["build"]}
            context = os.path.join(self.dir, build.get("context", "."))
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            started = time.monotonic()
            podman("build", "--format", "docker", "--pull=never", *extra, "-t", self.image(service),
                   "-f", dockerfile, context)
            built.add(self.image(service))
            log(f"built {self.image(service)} for {service} in {time.monotonic() - started:.0f} s")

    def run_args(self, service):
        body = self.services[service]
        args = ["run", "-d", "--name", self.container(service), "--label", f"{LABEL}={self.name}",
                "--label", f"com.docker.compose.service={service}", "--network", self.network,
                "--network-alias", service, "--hostname", service]
        if os.environ.get("GFCOMPOSE_RUNTIME"):
            args += ["--runtime", os.environ["GFCOMPOSE_RUNTIME"]]
        environment = body.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
        for key, value in environment.items():
            if value is None:
                if key in os.environ:
                    args += ["-e", f"{key}={os.environ[key]}"]
            else:
                args += ["-e", f"{key}={value}"]
        for port in body.get("ports") or []:
            args += ["-p", str(port)]
        for volume in body.get("volumes") or []:
            source, _, rest = str(volume).partition(":")
            if source.startswith((".", "/")):
                source = os.path.normpath(os.path.join(self.dir, source))
            else:
                source = f"{self.name}_{source}"
            args += ["-v", f"{source}:{rest}"]
        for secret in body.get("secrets") or []:
            name = secret if isinstance(secret, str) else secret["source"]
            target = name if isinstance(secret, str) else secret.get("target", name)
            path = os.path.join(self.dir, self.spec["secrets"][name]["file"])
            args += ["-v", f"{path}:{target if target.startswith('/') else '/run/secrets/' + target}:ro,Z"]
        for cap in body.get("cap_add") or []:
            args += ["--cap-add", cap]
        for cap in body.get("cap_drop") or []:
            args += ["--cap-drop", cap]
        for device in body.get("devices") or []:
            args += ["--device", device]
        for option in body.get("security_opt") or []:
            args += ["--security-opt", option]
        if body.get("read_only"):
            # Docker mounts nothing writable on a read-only root; podman would add /tmp, /run and /var/tmp
            args += ["--read-only", "--read-only-tmpfs=false"]
        tmpfs = body.get("tmpfs") or []
        for mount in [tmpfs] if isinstance(tmpfs, str) else tmpfs:
            args += ["--tmpfs", mount]
        if body.get("user") is not None:
            args += ["--user", str(body["user"])]
        if body.get("working_dir"):
            args += ["--workdir", body["working_dir"]]
        if body.get("init"):
            args += ["--init"]
        if body.get("stop_grace_period"):
            args += ["--stop-timeout", str(int(duration(body["stop_grace_period"], 10)))]
        restart = body.get("restart", "no")
        args += ["--restart", restart]
        health = body.get("healthcheck")
        if health and not health.get("disable"):
            test = health["test"]
            if isinstance(test, str):
                command = test
            elif test[0] == "CMD":
                command = json.dumps(test[1:])
            elif test[0] == "CMD-SHELL":
                command = test[1]
            else:
                command = "none"
            args += ["--health-cmd", command]
            if command != "none":
                # this runner runs the check itself (podman's timer needs systemd)
                args += ["--health-interval", "disable"]
                args += ["--health-timeout", f"{int(duration(health.get('timeout'), 30))}s"]
                args += ["--health-retries", str(health.get("retries", 3))]
        if "entrypoint" in body:
            entrypoint = body["entrypoint"]
            args += ["--entrypoint", entrypoint if isinstance(entrypoint, str) else json.dumps(entrypoint)]
        args.append(self.image(service))
        command = body.get("command")
        if command is not None:
            args += shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        return args

    def state(self, service):
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.container(service),
                     check=False, capture=True)
        if out.returncode != 0:
            return "missing", None
        status, code = out.stdout.split()
        return status, int(code)

    def wait(self, service, condition, timeout):
        deadline = time.monotonic() + timeout
        body = self.services[service]
        if condition == "service_started":
            return
        if condition == "service_completed_successfully":
            while time.monotonic() < deadline:
                status, code = self.state(service)
                if status in ("exited", "stopped"):
                    if code == 0:
                        return
                    self.fail(service, f"exited with {code}, which depends_on requires to be 0")
                time.sleep(0.5)
            self.fail(service, f"did not complete in {timeout} s")
        if condition == "service_healthy":
            health = body.get("healthcheck")
            if not health:
                sys.exit(f"compose: {service} has no healthcheck, so service_healthy can never hold")
            interval = duration(health.get("interval"), 30)
            start_period = duration(health.get("start_period"), 0)
            retries = int(health.get("retries", 3))
            started = time.monotonic()
            failures = 0
            while time.monotonic() < deadline:
                status, _ = self.state(service)
                if status not in ("running", "created", "configured"):
                    self.fail(service, f"is {status} while waiting for it to be healthy")
                if podman("healthcheck", "run", self.container(service), check=False, capture=True).returncode == 0:
                    return
                if time.monotonic() - started > start_period:
                    failures += 1
                    if failures >= retries:
                        self.fail(service, f"unhealthy: {retries} checks failed after its start period")
                time.sleep(interval)
            self.fail(service, f"not healthy in {timeout} s")
        sys.exit(f"compose: unknown depends_on condition {condition}")

    def fail(self, service, why):
        logs = podman("logs", "--tail", "40", self.container(service), check=False, capture=True)
        sys.stderr.write(f"--- {service} log (last 40 lines)\n{logs.stdout}{logs.stderr}")
        sys.exit(f"compose: {service} {why}")

    def up(self, timeout):
        if podman("network", "exists", self.network, check=False).returncode != 0:
            podman("network", "create", "--label", f"{LABEL}={self.name}", self.network, capture=True)
        for volume in self.spec.get("volumes") or {}:
            name = f"{self.name}_{volume}"
            if podman("volume", "exists", name, check=False).returncode != 0:
                podman("volume", "create", "--label", f"{LABEL}={self.name}", name, capture=True)
        conditions = {}
        for service in self.order():
            for dependency, condition in self.depends(service).items():
                if (dependency, condition) not in conditions:
                    started = time.monotonic()
                    self.wait(dependency, condition, timeout)
                    conditions[(dependency, condition)] = True
                    if condition != "service_started":
                        log(f"{dependency}: {condition.removeprefix('service_')} "
                            f"({time.monotonic() - started:.1f} s of waiting)")
            podman(*self.run_args(service), capture=True)
            log(f"{service}: started")

    def down(self):
        ids = podman("ps", "-aq", "--filter", f"label={LABEL}={self.name}", capture=True).stdout.split()
        if ids:
            podman("rm", "-f", "-v", "-t", "10", *ids, check=False, capture=True)
        for kind in ("volume", "network"):
            names = podman(kind, "ls", "-q", "--filter", f"label={LABEL}={self.name}", capture=True).stdout.split()
            for name in names:
                podman(kind, "rm", "-f", name, check=False, capture=True)

    def ps(self):
        for service in self.order():
            status, code = self.state(service)
            print(f"{service:12} {self.container(service):32} {status} {code if code is not None else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", default="docker-compose.yml")
    parser.add_argument("-p", "--project", required=True)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each condition")
    parser.add_argument("command", choices=["build", "up", "down", "ps"])
    args = parser.parse_args()
    project = Project(args.file, args.project)
    if args.command == "build":
        project.build()
    elif args.command == "up":
        project.up(args.timeout)
    elif args.command == "down":
        project.down()
    else:
        project.ps()


if __name__ == "__main__":
    main()
