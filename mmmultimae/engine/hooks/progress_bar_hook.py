# Copyright (c) mmmultimae contributors. All rights reserved.
"""A one-line training progress bar for interactive runs."""
import logging
import shutil
import sys
import time
from typing import List, Optional, TextIO, Union

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import MMLogger

from mmmultimae.registry import HOOKS


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (or ``M:SS`` under an hour)."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}:{minutes:02d}:{secs:02d}'
    return f'{minutes}:{secs:02d}'


def render_progress(done: int,
                    total: int,
                    elapsed: float,
                    eta: float,
                    width: int,
                    extra: str = '') -> str:
    """One progress line: bar, counts, percentage, elapsed time, ETA and
    ``extra`` (e.g. losses), cut to ``width`` characters.

    Args:
        done (int): Finished iterations.
        total (int): All iterations.
        elapsed (float): Seconds since the start.
        eta (float): Estimated seconds left.
        width (int): Line width.
        extra (str): Text appended to the line.

    Returns:
        str: The line (no newline).
    """
    total = max(total, 1)
    frac = min(max(done / total, 0.), 1.)
    stats = (f' {done}/{total} {frac * 100:3.0f}% '
             f'[{format_duration(elapsed)}<{format_duration(eta)}]')
    if extra:
        stats += ' ' + extra
    bar_width = max(10, min(40, width - len(stats) - 2))
    filled = int(round(frac * bar_width))
    line = '|' + '#' * filled + '.' * (bar_width - filled) + '|' + stats
    return line[:width]


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show training progress as one line that updates in place.

    On a terminal (``isatty()``) the line is redrawn every iteration with
    ``\\r``; logger console handlers that write to a terminal are raised to
    WARNING while the bar is shown (restored at the end), so mmengine's INFO
    lines go to the work dir's log file only and do not break the bar.
    Elsewhere (a pipe, a file, CI logs) a plain line is printed every
    ``non_tty_interval`` iterations and the logger is left alone. Only the
    main process draws.

    Args:
        keys (Sequence[str]): Logged scalars shown on the line (smoothed
            over ``window`` iterations), e.g. ``('loss', 'loss_depth')``.
            Defaults to ``('loss', )``.
        window (int): Smoothing window of the shown values. Defaults to 10.
        non_tty_interval (int): Iterations between plain lines when the
            stream is not a terminal. Defaults to 50.
        quiet_console (bool): Hide the logger's INFO lines on the terminal
            while the bar is shown. Defaults to True.
        stream (str | TextIO): ``'stdout'`` (default), ``'stderr'`` or a
            file object to draw on. ``'stderr'`` keeps the bar on the
            terminal when stdout (the logger) is redirected to a file.
    """

    priority = 'LOW'

    def __init__(self,
                 keys=('loss', ),
                 window: int = 10,
                 non_tty_interval: int = 50,
                 quiet_console: bool = True,
                 stream: Union[str, TextIO] = 'stdout') -> None:
        if window < 1 or non_tty_interval < 1:
            raise ValueError('window and non_tty_interval must be >= 1')
        self.keys = tuple(keys)
        self.window = window
        self.non_tty_interval = non_tty_interval
        self.quiet_console = quiet_console
        if isinstance(stream, str) and stream not in ('stdout', 'stderr'):
            raise ValueError("stream must be 'stdout', 'stderr' or a file "
                             f'object, got {stream!r}')
        self.stream = stream
        self._start = 0.
        self._start_iter = 0
        self._tty = False
        self._quieted: List[logging.Handler] = []
        self._levels: List[int] = []

    def _out(self) -> TextIO:
        if isinstance(self.stream, str):
            return getattr(sys, self.stream)
        return self.stream

    def before_train(self, runner) -> None:
        """Start the clock; on a terminal, quiet the console logger."""
        if not is_main_process():
            return
        out = self._out()
        self._tty = bool(getattr(out, 'isatty', lambda: False)())
        self._start = time.time()
        self._start_iter = runner.iter
        if self._tty and self.quiet_console:
            logger = MMLogger.get_current_instance()
            for handler in logger.handlers:
                stream = getattr(handler, 'stream', None)
                if type(handler) is logging.StreamHandler and \
                        getattr(stream, 'isatty', lambda: False)():
                    self._quieted.append(handler)
                    self._levels.append(handler.level)
                    handler.setLevel(max(handler.level, logging.WARNING))

    def _values(self, runner) -> str:
        parts = []
        for key in self.keys:
            name = f'train/{key}'
            if name in runner.message_hub.log_scalars:
                value = runner.message_hub.get_scalar(name).mean(self.window)
                parts.append(f'{key} {value:.4f}')
        return ' '.join(parts)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Redraw (terminal) or print every ``non_tty_interval`` iters."""
        if not is_main_process():
            return
        done = runner.iter + 1
        last = done == runner.max_iters
        if not self._tty and not last and done % self.non_tty_interval:
            return
        elapsed = time.time() - self._start
        # ETA from this run's own speed (a resumed run starts mid-way).
        run_done = done - self._start_iter
        eta = elapsed / run_done * (runner.max_iters - done) \
            if run_done else 0.
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = render_progress(done, runner.max_iters, elapsed, eta, width,
                               self._values(runner))
        out = self._out()
        if self._tty:
            out.write('\r\033[K' + line)
        else:
            out.write(line + '\n')
        out.flush()

    def after_train(self, runner) -> None:
        """End the bar line and restore the console logger."""
        self._restore()

    def after_run(self, runner) -> None:
        """Restore the console logger (also after a failed run's
        ``after_run``)."""
        self._restore()

    def _restore(self) -> None:
        if self._tty and is_main_process():
            self._out().write('\n')
            self._out().flush()
            self._tty = False
        for handler, level in zip(self._quieted, self._levels):
            handler.setLevel(level)
        self._quieted, self._levels = [], []
