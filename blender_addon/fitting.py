"""Background backend jobs (Fit Avatar; Apply Performance from a clip), polled from a timer.

One job per scene. A job's `on_success(scene, outputs)` runs on Blender's main thread when it
ends well, from the operator's modal timer or, in background mode, from `poll_job`.
"""

import sys
from pathlib import Path

import bpy

from .backend_link import backend_module
from .jobs import BackendJob

JOBS: dict[str, BackendJob] = {}  # scene name -> running job (Python objects cannot live in bpy props)
POLL_SECONDS = 0.2


def output_folder(context) -> Path:
    preferences = _preferences(context)
    if preferences and preferences.cache_dir:
        root = Path(bpy.path.abspath(preferences.cache_dir))
    elif bpy.data.filepath:
        root = Path(bpy.data.filepath).parent / "head_avatar"
    else:
        root = Path(bpy.app.tempdir) / "head_avatar"
    return root / Path(context.scene.head_avatar.footage_path).stem


def _preferences(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def device_arguments(context) -> list[str]:
    preferences = _preferences(context)
    device = {"CUDA": "cuda", "CPU": "cpu"}.get(preferences.device if preferences else "AUTO")
    return ["--device", device] if device else []


def fit_arguments(context) -> list[str]:
    preferences = _preferences(context)
    head = preferences.head_model if preferences else "default"
    return ["fit", context.scene.head_avatar.footage_path, "--out", str(output_folder(context)), "--head", head,
            *device_arguments(context)]


def job_interpreter(context) -> str | None:
    """The external Python the preferences name, or None for Blender's own."""
    preferences = _preferences(context)
    external = preferences and preferences.backend_runtime == "EXTERNAL" and preferences.python_path
    return bpy.path.abspath(preferences.python_path) if external else None


def backend_root() -> Path:
    """The folder holding the `backend` package, for the child process's PYTHONPATH."""
    return Path(backend_module("errors").__file__).resolve().parents[1]


def poll_job(scene) -> bool:
    """Copy a job's progress into the scene; True while it runs. On completion, report and forget it."""
    job = JOBS.get(scene.name)
    settings = scene.head_avatar
    if job is None:
        settings.job_running = False
        return False
    settings.job_stage, settings.job_fraction = job.stage, job.fraction
    if job.running:
        return True
    job.finish()
    del JOBS[scene.name]
    settings.job_running = False
    if job.outputs and not job.error:
        job.on_success(scene, job.outputs)
    return False


def remember_fit(scene, outputs: dict) -> None:
    settings = scene.head_avatar
    settings.tracking_dir = outputs.get("tracking_dir", settings.tracking_dir)
    settings.avatar_path = outputs.get("avatar", settings.avatar_path)


class BackendJobOperator:
    """Mixin: `start_job` runs backend arguments in the background with a progress timer."""

    _timer = None

    def start_job(self, context, arguments: list[str], on_success):
        python = job_interpreter(context)
        try:
            # Blender's own interpreter gets Blender's import folders, where the bundled wheels live
            job = BackendJob(arguments, python=python, backend_root=backend_root(),
                             extra_paths=[] if python else [p for p in sys.path if p])
        except OSError as error:
            self.report({"ERROR"}, f"Could not start the backend ({error}). Check the Python path in the preferences.")
            return {"CANCELLED"}
        job.on_success = on_success
        JOBS[context.scene.name] = job
        context.scene.head_avatar.job_running = True
        if context.window_manager.windows:
            self._timer = context.window_manager.event_timer_add(POLL_SECONDS, window=context.window)
            context.window_manager.modal_handler_add(self)
            return {"RUNNING_MODAL"}
        return {"FINISHED"}  # no window (background mode): scripts poll with fitting.poll_job

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        job = JOBS.get(context.scene.name)
        if poll_job(context.scene):
            context.workspace.status_text_set(f"Head Avatar: {job.stage} {100 * job.fraction:.0f}%")
            for area in context.screen.areas if context.screen else ():
                area.tag_redraw()
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        if job.error:
            self.report({"ERROR" if job.error != "cancelled" else "WARNING"}, f"{self.bl_label}: {job.error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"{self.bl_label}: finished")
        return {"FINISHED"}


class HEAD_AVATAR_OT_fit(BackendJobOperator, bpy.types.Operator):
    """Track the footage and fit the avatar in the background (Blender stays responsive)"""

    bl_idname = "head_avatar.fit"
    bl_label = "Fit Avatar"

    @classmethod
    def poll(cls, context):
        settings = context.scene.head_avatar
        if not settings.footage_path:
            cls.poll_message_set("Import footage first")
            return False
        if context.scene.name in JOBS:
            cls.poll_message_set("A job is already running; cancel it first")
            return False
        return True

    def execute(self, context):
        return self.start_job(context, fit_arguments(context), remember_fit)


class HEAD_AVATAR_OT_cancel(bpy.types.Operator):
    """Stop the running fit; nothing half-written is left behind"""

    bl_idname = "head_avatar.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        if context.scene.name not in JOBS:
            cls.poll_message_set("Nothing is running")
            return False
        return True

    def execute(self, context):
        JOBS[context.scene.name].cancel()
        poll_job(context.scene)
        return {"FINISHED"}
