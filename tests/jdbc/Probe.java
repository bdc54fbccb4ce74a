// What a JDBC client such as DBeaver or Metabase does on connecting to the
// Postgres port: log in with a password, read the server's metadata and
// list tables through pg_catalog, run a prepared statement with a bound
// parameter, and be refused a write. Prints one line per step for the Rust
// test (tests/pg.rs) to check.
//
//   java -cp /usr/share/java/postgresql.jar tests/jdbc/Probe.java PORT USER PASSWORD [require]
//
// With `require`, the connection must be encrypted (sslmode=require).
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class Probe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("connectTimeout", "20");
        props.setProperty("ApplicationName", "vigil-probe");
        if (args.length > 3) {
            props.setProperty("sslmode", args[3]);
        }
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/vigil";
        try (Connection conn = DriverManager.getConnection(url, props)) {
            DatabaseMetaData md = conn.getMetaData();
            System.out.println("product: " + md.getDatabaseProductName());
            StringBuilder tables = new StringBuilder();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    tables.append(rs.getString("TABLE_NAME")).append(' ');
                }
            }
            System.out.println("tables: " + tables.toString().trim());
            // Prepared with a bound parameter, executed twice (the driver
            // switches to a named server-side statement after a few runs).
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT count(*) AS n FROM cases WHERE case_type = ?")) {
                for (String type : new String[] {"complaint", "denunciation"}) {
                    ps.setString(1, type);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        System.out.println("count " + type + ": " + rs.getLong(1));
                    }
                }
            }
            try (Statement st = conn.createStatement();
                    ResultSet rs = st.executeQuery("SELECT 1 + 1 AS two")) {
                rs.next();
                System.out.println("two: " + rs.getInt("two"));
            }
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE cases");
                System.out.println("drop: accepted");
            } catch (SQLException e) {
                System.out.println("drop: refused: " + e.getMessage());
            }
        }
    }
}
