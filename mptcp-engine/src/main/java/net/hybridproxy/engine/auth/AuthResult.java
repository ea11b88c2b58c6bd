package net.hybridproxy.engine.auth;

import java.util.Objects;
import net.hybridproxy.engine.convert.ConvertErrorCode;

/** The verdict on a CPE's proof. */
public sealed interface AuthResult {

    /**
     * The proof verified.
     *
     * @param keyId the id of the key that made it
     */
    record Authenticated(String keyId) implements AuthResult {
        public Authenticated {
            Objects.requireNonNull(keyId, "keyId");
        }
    }

    /**
     * The proof did not verify.
     *
     * @param reason why, for logs only: the Client learns nothing beyond {@code code}
     * @param code   the RFC 8803 error to put in the Error TLV
     */
    record Rejected(String reason, ConvertErrorCode code) implements AuthResult {
        public Rejected {
            Objects.requireNonNull(reason, "reason");
            Objects.requireNonNull(code, "code");
        }
    }
}
