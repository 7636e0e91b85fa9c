# Generates C X-macro headers from the language-neutral tables in proto/.
# Each data line of a TSV becomes one MACRO(col, col, ...) line. Columns named
# in `quoted` (0-based indexes) become C string literals; the rest are emitted
# bare (identifiers or numbers). Re-runs when a TSV changes.
# An optional fifth argument ESCAPES keeps C escapes written in the TSV (\n,
# \x20 for a trailing space an editor would strip) as escapes in the literal;
# without it a backslash is an ordinary character.

function(ddbx_tsv_to_xmacro tsv out macro quoted)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${tsv})
  file(STRINGS ${tsv} lines ENCODING UTF-8)
  set(body "/* Generated from ${tsv} by cmake/tables.cmake: do not edit. */\n")
  foreach(line IN LISTS lines)
    if(line MATCHES "^#" OR line STREQUAL "")
      continue()
    endif()
    if(NOT "${ARGV4}" STREQUAL "ESCAPES")
      string(REPLACE "\\" "\\\\" line "${line}")
    endif()
    string(REPLACE "\"" "\\\"" line "${line}")
    # ';' separates CMake list items: hide it while the line is split on tabs
    string(REPLACE ";" "@DDBX_SEMICOLON@" line "${line}")
    string(REPLACE "\t" ";" cols "${line}")
    set(args "")
    set(i 0)
    foreach(col IN LISTS cols)
      if(i IN_LIST quoted)
        set(col "\"${col}\"")
      endif()
      if(i EQUAL 0)
        set(args "${col}")
      else()
        set(args "${args}, ${col}")
      endif()
      math(EXPR i "${i} + 1")
    endforeach()
    string(REPLACE "@DDBX_SEMICOLON@" ";" args "${args}")
    string(APPEND body "${macro}(${args})\n")
  endforeach()
  file(WRITE ${out}.tmp "${body}")
  file(COPY_FILE ${out}.tmp ${out} ONLY_IF_DIFFERENT)
endfunction()
