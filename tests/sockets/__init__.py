"""The socket API and its Trio streams, on two stacks joined by a memory link in virtual time."""
