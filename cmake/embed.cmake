# Turns a text file into a C source defining
#   const char cf_functions_lua[]; const size_t cf_functions_lua_len;
# Usage: cmake -DIN=file -DOUT=file.c -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from common/functions.lua by cmake/embed.cmake; do not edit. */\n"
    "#include <stddef.h>\n"
    "const char cf_functions_lua[] = {\n${bytes}0x00};\n"
    "const size_t cf_functions_lua_len = ${len};\n")
