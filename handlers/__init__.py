"""One module per capability, the command registry, the argument grammar and the dispatcher.

Platform-free: a transport turns its event into a Command and renders the returned Reply.
"""
