"""The window's model and device control: opening checkpoints and text, the Device menu, requests.

A mixin of ``MainWindow`` (it uses the window's controller, settings, input panel and
status bar): everything between a user's "open this" or keystroke and the worker's
request, and the window's answers to the worker's load and device signals.
"""

from __future__ import annotations

from pathlib import Path

from . import dialogs
from .core.views import panel_availability
from .devices import available_devices, normalise_device, read_on_one_thread
from .jobs import InputTexts, ModelInfo
from .text_files import TextFileError, read_text_file

BUNDLED_EXAMPLE = "date: wednesday, 25 november 2026"
GENERIC_EXAMPLE = "The quick brown fox jumps over the lazy dog."


class ModelActions:
    """Open, move and trace the model (mixed into ``MainWindow``)."""

    def open_checkpoint(self, location: str | None, device: str | None = None) -> int:
        """Load a checkpoint on the worker; the current model keeps working meanwhile.

        ``device`` overrides the remembered device for this load only (``--device``).
        """
        self._loading_location = location
        device = self.usable_device(device or self.settings.value("model/device"))
        return self.controller.load(location, device, dtype=self.compute_dtype)

    def open_checkpoint_dialog(self) -> None:
        location = dialogs.choose_checkpoint_folder(self, self._dialog_start())
        if location:
            self.open_checkpoint(location)

    def open_checkpoint_file_dialog(self) -> None:
        location = dialogs.choose_checkpoint_file(self, self._dialog_start())
        if location:
            self.open_checkpoint(location)

    def open_text_file_dialog(self) -> None:
        path = dialogs.choose_text_file(self, str(Path.home()))
        if path:
            self.open_text_file(path)

    def open_text_file(self, path: str) -> bool:
        """Put a UTF-8 file's text in the source box; a file that can't be used explains itself."""
        try:
            text = read_text_file(path)
        except TextFileError as error:
            self.last_error_dialog = dialogs.show_message(self, "Open text file", str(error))
            return False
        self.input_panel.source.setPlainText(text)
        return True

    def _dialog_start(self) -> str:
        return str(Path(self.model.source).parent) if self.model and self.model.source else str(Path.home())

    def open_cached_model_dialog(self) -> None:
        repo_id = dialogs.choose_cached_model(self)
        if repo_id:
            self.open_checkpoint(repo_id)

    def list_devices(self) -> None:
        """Fill the Device menu with the CPU and every accelerator torch sees (once)."""
        if self.device_actions:
            return
        devices = available_devices()
        for device in devices:
            action = self.device_menu.addAction(device.label)
            action.setCheckable(True)
            action.setData(device.name)
            self.device_group.addAction(action)
            self.device_actions[device.name] = action
            action.triggered.connect(lambda _checked=False, name=device.name: self.set_device(name))
        if len(devices) == 1:
            self.device_menu.addSeparator()
            self.device_menu.addAction("No GPU found (neither CUDA nor Apple MPS is available)").setEnabled(False)
        current = self.model.device if self.model is not None else "cpu"
        self.device_actions.get(current, self.device_actions["cpu"]).setChecked(True)

    def usable_device(self, name: str | None) -> str:
        """``name`` normalised, or the CPU when the listed devices lack it. Before the list is
        made, the worker is left to fall back (it says so in the status bar)."""
        device = normalise_device(name)
        return device if not self.device_actions or device in self.device_actions else "cpu"

    def set_device(self, device: str) -> None:
        self.settings.set_value("model/device", device)
        if self.model is not None:
            self.controller.move_to(device)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent()
        for location in recent:
            self.recent_menu.addAction(location, lambda loc=location: self.open_checkpoint(loc))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _on_load_started(self, what: str) -> None:
        self.progress.show()
        self.statusBar().showMessage(f"Loading {what}…")

    def _on_model_loaded(self, info: ModelInfo) -> None:
        read_on_one_thread()  # the GUI thread's reads of the model's traces
        self._heap_unsettled = True
        self.progress.setVisible(self.controller.loading)
        self.model = info
        if self._loading_location and not info.from_run:
            self.settings.add_recent(self._loading_location)
        self.statusBar().showMessage(f"Loaded {info.name}", 4000)
        self._show_model(info)
        availability = panel_availability(info.architecture)
        self.input_panel.set_availability(availability["target"], availability["pair"])
        self.input_panel.set_chat_available(info.chat_template)
        self._show_availability(info.architecture)
        if not info.from_run:
            # Typing starts at once: a newly opened model hands the keyboard to the source.
            self.input_panel.focus_source()
        # A step of a training run keeps the view, so scrubbing shows one head changing.
        self._pick_view = not info.from_run
        self.model_changed.emit(info)
        if not self.input_panel.source.toPlainText():
            # Setting the text requests the trace.
            self.input_panel.source.setPlainText(self.example_text(info))
        else:
            self.request_trace()

    def _on_load_failed(self, location: str, reason: str) -> None:
        self.progress.setVisible(self.controller.loading)
        self.statusBar().showMessage(f"Could not open {location}", 6000)
        self.last_error_dialog = dialogs.show_message(self, "Could not open checkpoint", reason)
        if self.model is None:
            self._show_availability(None, "No model is loaded: " + reason)

    def _on_device_changed(self, info: ModelInfo, notice: str) -> None:
        self.model = info
        self._show_model(info)
        self._show_device(info)
        if notice:
            self.statusBar().showMessage(notice, 10000)
            self.last_notice = notice
        self.request_trace()

    def _show_model(self, info: ModelInfo) -> None:
        self.setWindowTitle(f"Attention Explorer — {info.name}")
        self.model_label.setText(f"{info.name} · {info.architecture}")
        self.model_label.setToolTip(f"{info.description}\n{info.source}")
        precision = "" if info.dtype == "float32" else f" · {info.dtype}"
        self.device_label.setText(f"device: {info.device}{precision}")
        self._show_device(info)

    def _show_device(self, info: ModelInfo) -> None:
        self.list_devices()  # torch is in by now: a model was loaded
        self.device_actions.get(info.device, self.device_actions["cpu"]).setChecked(True)

    @staticmethod
    def example_text(info: ModelInfo) -> str:
        return BUNDLED_EXAMPLE if info.bundled else GENERIC_EXAMPLE

    # -- input ----------------------------------------------------------------------------
    def request_trace(self, texts: InputTexts | None = None) -> int | None:
        """Trace ``texts`` (a keystroke's), or the input panel's texts as they are now."""
        if self.model is None and not self.controller.loading:
            return None
        texts = texts if texts is not None else self.input_panel.texts()
        selection = self.state.selection
        return self.controller.request_trace(
            texts, selection.hide_special, self._pick_view, selection.colormap, selection.show_mean_column
        )
