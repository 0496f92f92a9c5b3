# Fails when `BIN --config-reference` differs from the checked-in DOC.
# Regenerate with: BIN --config-reference > DOC
execute_process(COMMAND ${BIN} --config-reference OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${BIN} --config-reference failed (${rc})")
endif()
file(READ ${DOC} checked_in)
if(NOT generated STREQUAL checked_in)
  message(FATAL_ERROR "${DOC} is out of date: run `${BIN} --config-reference > ${DOC}`")
endif()
