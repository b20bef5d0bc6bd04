"""Speed: exact faster forms of the networks' convolutions (``fast_conv``, ``subpixel``), the
measured choice between them (``conv_forms``), the precision policy, the CPU allocator and the
penalty's constant slopes.  The models' results do not depend on which form runs."""
