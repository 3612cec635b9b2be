"""Chatting with a model in a terminal: the conversation and the line reader."""

from llmctl.chat.lines import LineReader
from llmctl.chat.session import COMMANDS_HELP, ChatSession, Turn

__all__ = ["COMMANDS_HELP", "ChatSession", "LineReader", "Turn"]
