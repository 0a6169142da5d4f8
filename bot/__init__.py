"""Process wiring: settings, CLI, app assembly, scheduler and the chat transports."""
