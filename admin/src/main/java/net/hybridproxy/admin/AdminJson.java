package net.hybridproxy.admin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.jr.ob.JSON;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;

/**
 * The admin API's JSON, on Jackson (jackson-core streaming, jackson-jr for request bodies). Request bodies are read
 * strictly: RFC 8259 only, a duplicate member or trailing content is an error, nesting deeper than
 * {@value #MAX_DEPTH} is refused (the server already bounds the body's size). Answers are written with the
 * streaming generator, so each answer's field names stay visible where it is built.
 */
final class AdminJson {
    static final int MAX_DEPTH = 16;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();
    private static final JSON READER = JSON.builder(FACTORY).enable(JSON.Feature.USE_BIG_DECIMAL_FOR_FLOATS).build();

    private AdminJson() {
    }

    /** Writes one answer. */
    @FunctionalInterface
    interface Body {
        void write(JsonGenerator json) throws IOException;
    }

    static String write(Body body) {
        StringWriter out = new StringWriter(256);
        try (JsonGenerator json = FACTORY.createGenerator(out)) {
            body.write(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    /** NaN and infinities have no JSON form: they are written as null ("no value"). */
    static void number(JsonGenerator json, String name, double value) throws IOException {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            json.writeNullField(name);
        } else {
            json.writeNumberField(name, value);
        }
    }

    /**
     * Parses one JSON value: objects become maps (member order kept), arrays lists, numbers {@code BigInteger} or
     * {@code BigDecimal}, {@code null} null.
     *
     * @throws MalformedJsonException naming the offset and what was wrong
     */
    static Object parse(String text) throws MalformedJsonException {
        try (JsonParser parser = FACTORY.createParser(text)) {
            Object value = READER.anyFrom(parser);
            if (parser.nextToken() != null) {
                throw new MalformedJsonException(parser.currentLocation().getCharOffset(),
                        "unexpected content after the JSON value");
            }
            return value;
        } catch (JsonProcessingException e) {
            long offset = e.getLocation() == null ? 0 : Math.max(0, e.getLocation().getCharOffset());
            throw new MalformedJsonException(offset, e.getOriginalMessage());
        } catch (IOException e) {
            throw new MalformedJsonException(0, e.getMessage());
        } catch (NumberFormatException e) {
            // A number jackson cannot represent (an exponent of hundreds of digits): bad input, not a server error.
            throw new MalformedJsonException(0, "number out of range");
        }
    }

    static final class MalformedJsonException extends Exception {
        MalformedJsonException(long offset, String problem) {
            super("malformed JSON at offset " + offset + ": " + firstLine(problem));
        }

        private static String firstLine(String text) {
            if (text == null) {
                return "unreadable input";
            }
            int newline = text.indexOf('\n');
            return newline < 0 ? text : text.substring(0, newline);
        }
    }
}
